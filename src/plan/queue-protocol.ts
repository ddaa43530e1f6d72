/**
 * Queue mode's wire protocol: what `seedfork run --queue URL` (the client, src/run/queue-client.ts)
 * and `seedfork serve` (the broker, src/server/queue/) say to each other over HTTP, as JSON, with
 * an ingest token for the service (`Authorization: Bearer …`).
 *
 * Every CI job of one build asks the broker for its next file instead of running a precomputed
 * shard, so the jobs finish together even when one machine is slower or a file runs longer than
 * its recorded time (the idea of Knapsack Pro's Queue Mode, https://docs.knapsackpro.com/ruby/queue-mode).
 *
 * - `POST /api/v1/queue/join` ({@link QueueJoin}): a job joins the build. The first job creates
 *   the build's queue from its file list, costliest first; a later job must bring the same files
 *   (409 otherwise: the jobs would run different suites).
 * - `POST /api/v1/queue/next` ({@link QueueNext}): one worker of a job reports the files it
 *   finished and asks for the next; answered {@link QueueAnswer}.
 * - `POST /api/v1/queue/heartbeat` ({@link QueueCall}): the job is alive; its leases last another
 *   `leaseMs`.
 * A job not heard from for `leaseMs` is *lost*: every file it held or finished goes back to the
 * queue (a killed job writes no report, so its finished files have no result anywhere), and its
 * later calls are answered 409 with `lost: true`.
 *
 * Any token of a service may call for any job of it, so each job also proves it is itself: its
 * join carries a `secret` the job drew at random, the broker keeps its SHA-256, and every later
 * call of that job id (a repeated join included) must show the same secret, or is answered 403.
 * The job draws it rather than the broker so that a join retried after a lost answer still works.
 * Reporting as finished a file that is not leased to the job (queued, another job's, or done by
 * another) is answered 409 and changes nothing.
 */

/** Shortest and longest lease a job may ask for, in ms. */
export const LEASE_LIMITS_MS = { min: 1000, max: 3_600_000 };

/** Identifies one job of one build. */
export interface QueueCall {
  /** The history's service name (the token must be allowed to ingest for it). */
  service: string;
  /** Shared by every job of one CI run (`--run-id`, or the CI's run id). */
  build: string;
  /** Unique to this job (and this attempt of it). */
  job: string;
  /** The job's secret, drawn at random when it joins (32 to 200 characters; see the top of
   * this file): the same in every call of the job. */
  secret: string;
}

/** Shortest job secret the broker accepts (characters); the client draws 43 (256 bits, base64url). */
export const MIN_SECRET_LENGTH = 32;

/** A file to queue, with its predicted cost (ms) from the timings file: costliest first. */
export interface QueueFile {
  file: string;
  costMs: number;
}

/** `POST /api/v1/queue/join`. */
export interface QueueJoin extends QueueCall {
  /** Identity of the file list (`suiteIdOf`): equal across the jobs of one build. */
  suiteId: string;
  /** The files, costliest first; of equal costs, the first listed goes first. */
  files: QueueFile[];
  /** How long the job's leases last without a call from it, in ms (1 s to 1 h). */
  leaseMs: number;
}

/** `POST /api/v1/queue/next`. */
export interface QueueNext extends QueueCall {
  /** Files this worker finished since its last call (their results are in the job's report). */
  finished: string[];
}

/** What `next` answers: a file to run, a wait (files are leased to other jobs), or done. */
export type QueueAnswer =
  | { file: string }
  /** Nothing queued now, but files are leased to jobs that may yet be lost: ask again after `waitMs`. */
  | { waitMs: number }
  /** Every file of the build is finished. */
  | { done: true };

/** What `join` answers. */
export interface QueueJoined {
  /** Files in the build. */
  files: number;
  /** Files not finished yet. */
  remaining: number;
}

/** Error answers (4xx) carry this; `lost` when the job was given up on (409). */
export interface QueueError {
  error: string;
  lost?: boolean;
}
