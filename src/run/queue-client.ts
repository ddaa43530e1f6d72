import { randomBytes } from 'node:crypto';
import { SeedforkError } from '../errors/seedfork-error.js';
import { postJson, sleep } from '../http/post-json.js';
import type { QueueAnswer, QueueCall, QueueError, QueueFile, QueueJoined } from '../plan/queue-protocol.js';
import type { WorkSource } from './pool.js';

/** How a run takes its files from the queue of `seedfork serve` (`seedfork run --queue URL`). */
export interface QueueOptions {
  /** The server's URL (`http://host:7357`). */
  url: string;
  /** A token that may ingest for `service` (`seedfork token create --service S`). */
  token: string;
  service: string;
  /** Unique to this job (default: host, pid and a random part). */
  job: string;
  /** How long the broker waits for a sign of life before handing this job's files to others, in ms. */
  leaseMs: number;
}

/** Waits between attempts of one call when the server cannot be reached or answers 5xx, in ms. */
const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

/**
 * A {@link WorkSource} over the broker of `seedfork serve` (protocol: src/plan/queue-protocol.ts):
 * each worker reports the file it finished and takes the next, waits while the last files are
 * leased to other jobs, and stops when every file of the build is done. A heartbeat every third
 * of the lease keeps this job's leases while long files run.
 */
export class QueueClient implements WorkSource {
  /** Whether the broker said every file of the build is done (this job's report is complete). */
  complete = false;
  private readonly heartbeat: NodeJS.Timeout;
  private failure: SeedforkError | undefined;

  private constructor(
    private readonly options: QueueOptions,
    private readonly call: QueueCall,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.heartbeat = setInterval(
      () => {
        this.post('heartbeat', this.call).catch((error: SeedforkError) => {
          // a server that cannot be reached may come back; a lost job may not go on
          if ((error as { lost?: boolean }).lost) this.failure ??= error;
        });
      },
      Math.max(250, Math.floor(options.leaseMs / 3)),
    );
    this.heartbeat.unref();
  }

  /**
   * Join the queue of `build` with this job's `files` (the first job of a build queues them,
   * costliest first).
   * @returns the client and how many files the build has and has left
   * @throws SeedforkError when the server refuses (401/403: the token; 409: other files than the
   *   build's first job) or cannot be reached after retries
   */
  static async join(
    options: QueueOptions,
    build: string,
    suite: { suiteId: string; files: QueueFile[] },
    signal?: AbortSignal,
  ): Promise<{ client: QueueClient; joined: QueueJoined }> {
    // the job's secret: shown in every call, so no other holder of a token can act as this job
    const secret = randomBytes(32).toString('base64url');
    const call: QueueCall = { service: options.service, build, job: options.job, secret };
    const client = new QueueClient(options, call, signal);
    try {
      const joined = await client.post<QueueJoined>('join', { ...call, ...suite, leaseMs: options.leaseMs });
      return { client, joined };
    } catch (error) {
      client.close();
      throw error;
    }
  }

  async next(finished: string[]): Promise<string[] | undefined> {
    let report = finished;
    while (!this.signal?.aborted) {
      if (this.failure) throw this.failure;
      const answer = await this.post<QueueAnswer>('next', { ...this.call, finished: report });
      report = [];
      if ('file' in answer) return [answer.file];
      if ('done' in answer) {
        this.complete = true;
        return undefined;
      }
      await sleep(answer.waitMs, this.signal);
    }
    return undefined;
  }

  /** Stop the heartbeat. */
  close(): void {
    clearInterval(this.heartbeat);
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const url = `${this.options.url.replace(/\/+$/, '')}/api/v1/queue/${path}`;
    const outcome = await postJson<T & Partial<QueueError>>(url, body, {
      token: this.options.token,
      backoffMs: BACKOFF_MS,
      target: this.options.url,
      who: `the queue at ${this.options.url}`,
      signal: this.signal,
    });
    if (outcome.kind === 'ok') return outcome.answer;
    if (outcome.kind === 'cancelled') throw new SeedforkError('cancelled while talking to the queue');
    if (outcome.kind === 'rejected') {
      const error = new SeedforkError(outcome.message, {
        hint:
          outcome.status === 401 || outcome.status === 403
            ? `Give the job a token for ${this.options.service} in SEEDFORK_TOKEN (seedfork token create --service ${this.options.service}).`
            : outcome.answer.lost
              ? 'The other jobs ran (or will run) its files; rerun this job only if the build is still going.'
              : undefined,
      });
      throw Object.assign(error, { lost: outcome.answer.lost === true });
    }
    throw new SeedforkError(`${outcome.message} (gave up after ${outcome.attempts} attempts)`, {
      hint: 'Is `seedfork serve` running there and reachable from this machine?',
    });
  }
}
