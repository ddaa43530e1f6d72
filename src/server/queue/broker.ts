import { createHash, timingSafeEqual } from 'node:crypto';
import { SeedforkError } from '../../errors/seedfork-error.js';
import type { HistoryStore, Queryable } from '../../history/store.js';
import { wholeNumber } from '../../http/fields.js';
import {
  LEASE_LIMITS_MS,
  MIN_SECRET_LENGTH,
  type QueueAnswer,
  type QueueCall,
  type QueueJoin,
  type QueueJoined,
  type QueueNext,
} from '../../plan/queue-protocol.js';

/** Largest predicted cost of a file, in ms (a year): keeps sums and orders finite. */
const MAX_COST_MS = 365 * 86_400_000;

/** A call the queue's state refuses (HTTP 409): another suite, or a job given up on (`lost`). */
export class QueueConflict extends SeedforkError {
  constructor(
    message: string,
    readonly lost = false,
  ) {
    super(message);
  }
}

/** A call about a build or job the broker does not know (HTTP 404). */
export class QueueUnknown extends SeedforkError {}

/** A call for a job that does not show the job's secret (HTTP 403). */
export class QueueForbidden extends SeedforkError {}

interface JobRow {
  state: 'running' | 'complete' | 'lost';
  lease_ms: number;
  expires_at_ms: string;
  secret_sha256: string | null;
}

const secretHash = (secret: string) => createHash('sha256').update(secret).digest();

/**
 * @throws QueueForbidden unless `call.secret` is the secret the job joined with (compared in
 *   constant time, as hashes)
 */
function checkSecret(call: QueueCall, job: JobRow): void {
  const held = job.secret_sha256 ? Buffer.from(job.secret_sha256, 'hex') : undefined;
  const shown = secretHash(call.secret);
  if (!held || held.length !== shown.length || !timingSafeEqual(held, shown))
    throw new QueueForbidden(
      `job ${call.job} of build ${call.build} joined with another secret: only that job may call for it (each job draws its own; give each job of a build its own --queue-job id)`,
    );
}

/** The build's id, its row locked until the transaction ends: calls of one build go one by one. */
async function lockBuild(tx: Queryable, call: QueueCall): Promise<number> {
  const [row] = await tx.query<{ id: string }>(
    'select id from queue_builds where service = $1 and build = $2 for update',
    [call.service, call.build],
  );
  if (!row) throw new QueueUnknown(`no queue for build ${call.build} of ${call.service}: join it first`);
  return Number(row.id);
}

/**
 * Give up on the build's running jobs whose leases ran out before `now`: they are lost, and
 * every file they held or finished is queued again (a killed job writes no report, so its
 * finished files have no result anywhere).
 */
async function expireJobs(tx: Queryable, buildId: number, now: number): Promise<void> {
  const lost = await tx.query<{ job: string }>(
    `update queue_jobs set state = 'lost'
     where build_id = $1 and state = 'running' and expires_at_ms < $2 returning job`,
    [buildId, now],
  );
  if (lost.length === 0) return;
  await tx.query(
    `update queue_items set state = 'queued', job = null
     where build_id = $1 and job = any($2::text[])`,
    [buildId, lost.map((r) => r.job)],
  );
}

/**
 * The caller's job, alive for another lease from `now`.
 * @throws QueueUnknown when it never joined; QueueForbidden when the call does not show its
 *   secret; QueueConflict (`lost`) when it was given up on
 */
async function touchJob(tx: Queryable, buildId: number, call: QueueCall, now: number): Promise<JobRow> {
  await expireJobs(tx, buildId, now);
  const [job] = await tx.query<JobRow>(
    'select state, lease_ms, expires_at_ms, secret_sha256 from queue_jobs where build_id = $1 and job = $2',
    [buildId, call.job],
  );
  if (!job) throw new QueueUnknown(`job ${call.job} has not joined build ${call.build}: join it first`);
  checkSecret(call, job);
  if (job.state === 'lost')
    throw new QueueConflict(
      `job ${call.job} of build ${call.build} was not heard from for ${job.lease_ms} ms, so its files were handed to the other jobs: its results no longer count`,
      true,
    );
  if (job.state === 'running')
    await tx.query('update queue_jobs set expires_at_ms = $3 where build_id = $1 and job = $2', [
      buildId,
      call.job,
      now + job.lease_ms,
    ]);
  return job;
}

function validCall(call: QueueCall): void {
  for (const key of ['service', 'build', 'job'] as const)
    if (typeof call?.[key] !== 'string' || call[key] === '' || call[key].length > 200)
      throw new SeedforkError(`${key} must be a non-empty string of at most 200 characters`);
  if (typeof call.secret !== 'string' || call.secret.length < MIN_SECRET_LENGTH || call.secret.length > 200)
    throw new SeedforkError(
      `secret must be a string of ${MIN_SECRET_LENGTH} to 200 characters, drawn at random by the job when it joins`,
    );
}

function validJoin(join: QueueJoin): void {
  validCall(join);
  if (typeof join.suiteId !== 'string' || join.suiteId === '') throw new SeedforkError('suiteId is required');
  if (!Array.isArray(join.files) || join.files.length === 0)
    throw new SeedforkError('files must list at least one { file, costMs }');
  for (const f of join.files)
    if (
      typeof f?.file !== 'string' ||
      f.file === '' ||
      typeof f.costMs !== 'number' ||
      !(f.costMs >= 0 && f.costMs <= MAX_COST_MS)
    )
      throw new SeedforkError(
        `bad file entry ${JSON.stringify(f)}: expected { file, costMs } with costMs from 0 to ${MAX_COST_MS}`,
      );
  if (new Set(join.files.map((f) => f.file)).size !== join.files.length)
    throw new SeedforkError('files lists a file twice');
  const { min, max } = LEASE_LIMITS_MS;
  wholeNumber('leaseMs', join.leaseMs, min, max);
}

/**
 * A job joins the queue of its build (see queue-protocol.ts). The first job of a build creates
 * the queue from its files; a later one must bring the same suite. The job's secret is kept (as
 * its SHA-256) for its later calls. Joining again (a retried call, with the same secret) only
 * renews the job's lease.
 * @param at ms since the epoch (the broker's clock; a parameter so that simulations can drive it)
 * @throws SeedforkError for a malformed request; QueueForbidden when the job joined before
 *   with another secret; QueueConflict when the job brings another suite or was lost
 */
export async function joinQueue(
  store: HistoryStore,
  join: QueueJoin,
  now = Date.now(),
): Promise<QueueJoined> {
  validJoin(join);
  return store.transaction(async (tx) => {
    const created = await tx.query<{ id: string }>(
      `insert into queue_builds (service, build, suite_id) values ($1, $2, $3)
       on conflict (service, build) do nothing returning id`,
      [join.service, join.build, join.suiteId],
    );
    const buildId = await lockBuild(tx, join);
    if (created.length > 0) {
      await tx.query(
        `insert into queue_items (build_id, file, cost_ms, position, state)
         select $1, f, c, p, 'queued' from unnest($2::text[], $3::float8[]) with ordinality as t (f, c, p)`,
        [buildId, join.files.map((f) => f.file), join.files.map((f) => f.costMs)],
      );
    } else {
      const [build] = await tx.query<{ suite_id: string }>(
        'select suite_id from queue_builds where id = $1',
        [buildId],
      );
      if (build!.suite_id !== join.suiteId)
        throw new QueueConflict(
          `job ${join.job} brings other test files (suite ${join.suiteId}) than build ${join.build} was queued with (suite ${build!.suite_id}): every job of a build must run the same checkout with the same filters`,
        );
    }
    await tx.query(
      `insert into queue_jobs (build_id, job, state, lease_ms, expires_at_ms, secret_sha256)
       values ($1, $2, 'running', $3, $4, $5)
       on conflict (build_id, job) do nothing`,
      [buildId, join.job, join.leaseMs, now + join.leaseMs, secretHash(join.secret).toString('hex')],
    );
    await touchJob(tx, buildId, join, now);
    const [counts] = await tx.query<{ files: string; remaining: string }>(
      `select count(*) as files, count(*) filter (where state <> 'done') as remaining
       from queue_items where build_id = $1`,
      [buildId],
    );
    return { files: Number(counts!.files), remaining: Number(counts!.remaining) };
  });
}

/**
 * One worker of a job reports the files it finished and takes the costliest queued file. With
 * none queued it waits while files are leased (their jobs may yet be lost and the files come
 * back); when every file is done, the answer is done and a job holding no lease is complete.
 * @param at ms since the epoch
 * @throws SeedforkError for a malformed request; QueueUnknown for a build or job that never
 *   joined; QueueForbidden without the job's secret; QueueConflict (`lost`) for a job given up
 *   on, or (changing nothing) when a finished file was not leased to the job
 */
export async function nextFile(store: HistoryStore, next: QueueNext, at = Date.now()): Promise<QueueAnswer> {
  validCall(next);
  const now = Math.floor(at);
  if (!Array.isArray(next.finished) || next.finished.some((f) => typeof f !== 'string'))
    throw new SeedforkError('finished must be a list of files');
  return store.transaction(async (tx) => {
    const buildId = await lockBuild(tx, next);
    const job = await touchJob(tx, buildId, next, now);
    if (next.finished.length > 0) await finishFiles(tx, buildId, next);
    const [queued] = await tx.query<{ file: string }>(
      `select file from queue_items where build_id = $1 and state = 'queued'
       order by cost_ms desc, position limit 1`,
      [buildId],
    );
    if (queued) {
      await tx.query(
        `update queue_items set state = 'leased', job = $3, handed = handed + 1
         where build_id = $1 and file = $2`,
        [buildId, queued.file, next.job],
      );
      // a job that was complete runs again (files of a lost job came back)
      await tx.query(
        `update queue_jobs set state = 'running', expires_at_ms = $3 where build_id = $1 and job = $2`,
        [buildId, next.job, now + job.lease_ms],
      );
      return { file: queued.file };
    }
    const [unfinished] = await tx.query<{ n: string }>(
      `select count(*) as n from queue_items where build_id = $1 and state <> 'done'`,
      [buildId],
    );
    if (Number(unfinished!.n) > 0) return { waitMs: Math.min(1000, Math.ceil(job.lease_ms / 4)) };
    await tx.query(`update queue_jobs set state = 'complete' where build_id = $1 and job = $2`, [
      buildId,
      next.job,
    ]);
    return { done: true };
  });
}

/**
 * Mark the files `next` reports finished as done. A file already done by this job is fine (a
 * call retried after its answer was lost).
 * @throws QueueConflict, changing nothing, when a file is not leased to this job: queued,
 *   leased to another job, done by another, or not in the build
 */
async function finishFiles(tx: Queryable, buildId: number, next: QueueNext): Promise<void> {
  const rows = await tx.query<{ file: string; state: string; job: string | null }>(
    'select file, state, job from queue_items where build_id = $1 and file = any($2::text[])',
    [buildId, next.finished],
  );
  const found = new Map(rows.map((r) => [r.file, r]));
  for (const file of new Set(next.finished)) {
    const row = found.get(file);
    if (row?.job === next.job && row.state !== 'queued') continue;
    const why = !row
      ? 'is not in the build'
      : row.state === 'queued'
        ? 'is queued, not leased to it'
        : row.state === 'leased'
          ? `is leased to job ${row.job}`
          : `was finished by job ${row.job}`;
    throw new QueueConflict(`job ${next.job} reports ${JSON.stringify(file)} finished, but that file ${why}`);
  }
  await tx.query(
    `update queue_items set state = 'done'
     where build_id = $1 and job = $2 and state = 'leased' and file = any($3::text[])`,
    [buildId, next.job, next.finished],
  );
}

/**
 * The job is alive: its leases last another lease from `now`.
 * @throws QueueUnknown for a build or job that never joined; QueueForbidden without the job's
 *   secret; QueueConflict (`lost`) for a job given up on
 */
export async function heartbeat(store: HistoryStore, call: QueueCall, at = Date.now()): Promise<void> {
  validCall(call);
  await store.transaction(async (tx) => {
    await touchJob(tx, await lockBuild(tx, call), call, Math.floor(at));
  });
}

/** A build's queue as it stands, for people and tests (`GET /api/v1/queue/:service/:build`). */
export interface QueueStatus {
  files: number;
  queued: number;
  leased: number;
  done: number;
  jobs: { job: string; state: string; leased: string[]; done: number }[];
  /** Files handed out more than once (their first job was lost). */
  handedAgain: string[];
}

/**
 * The queue of one build, or undefined when there is none.
 */
export async function queueStatus(
  store: HistoryStore,
  service: string,
  build: string,
): Promise<QueueStatus | undefined> {
  const [row] = await store.query<{ id: string }>(
    'select id from queue_builds where service = $1 and build = $2',
    [service, build],
  );
  if (!row) return undefined;
  const items = await store.query<{ file: string; state: string; job: string | null; handed: number }>(
    'select file, state, job, handed from queue_items where build_id = $1 order by file',
    [row.id],
  );
  const jobs = await store.query<{ job: string; state: string }>(
    'select job, state from queue_jobs where build_id = $1 order by job',
    [row.id],
  );
  const count = (state: string) => items.filter((i) => i.state === state).length;
  return {
    files: items.length,
    queued: count('queued'),
    leased: count('leased'),
    done: count('done'),
    jobs: jobs.map((j) => ({
      job: j.job,
      state: j.state,
      leased: items.filter((i) => i.job === j.job && i.state === 'leased').map((i) => i.file),
      done: items.filter((i) => i.job === j.job && i.state === 'done').length,
    })),
    handedAgain: items.filter((i) => i.handed > 1).map((i) => i.file),
  };
}
