import { constants } from 'node:os';
import { type Lease, type TestEnvironment, warmPoolSize } from '../run/environment.js';
import { WarmPool } from '../run/warm-pool.js';
import type { SpawnedProcess } from '../sandbox/index.js';

/** SIGKILL for 9, and so on; undefined for a number that names no signal. */
function signalName(n: number): string | undefined {
  return Object.entries(constants.signals).find(([, value]) => value === n)?.[0];
}

/** Started workers waiting at most, whatever the number of workers. */
export const MAX_STARTED_AHEAD = 8;

/** Characters of a started worker's output kept for the error that says why it died. */
const OUTPUT_TAIL_CHARS = 4000;

/**
 * A sandbox with a runner's worker process already started in it: the fork, the services and
 * the worker's own start (Node, the runner's modules) done before any test file needs them.
 * Handed out once; `release` kills the sandbox and everything in it.
 */
export class StartedWorker {
  private tail = '';
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private failure: Error | undefined;

  /**
   * @param lease the sandbox the worker runs in
   * @param child the worker, started with `lease.sandbox.spawn` or forked with `spawnFrom`
   * @param keepOutput whether to keep the tail of the worker's stdout and stderr for
   *   {@link output}; a caller that reads them itself passes false
   */
  constructor(
    readonly lease: Lease,
    readonly child: SpawnedProcess,
    keepOutput: boolean,
  ) {
    if (keepOutput) {
      for (const stream of [child.stdout, child.stderr]) {
        stream?.setEncoding('utf8');
        stream?.on('data', (chunk: string) => {
          this.tail = (this.tail + chunk).slice(-OUTPUT_TAIL_CHARS);
        });
      }
    }
    child.on('error', (error) => {
      this.failure = error;
    });
    // a worker that dies mid-write resets its pipes and channel: its exit says why, and an
    // unhandled stream error would end the runner's own process
    for (const stream of child.stdio) stream?.on('error', () => {});
    child.on('exit', (code, signal) => {
      this.exit = { code, signal };
    });
  }

  /** The last few thousand characters the worker wrote to stdout and stderr (when kept). */
  get output(): string {
    return this.tail;
  }

  /**
   * Why the worker is no longer running (it exited, or could not be started), or undefined
   * while it runs.
   */
  get ended(): string | undefined {
    if (this.failure) return `could not be started: ${this.failure.message}`;
    if (!this.exit) return undefined;
    const { code, signal } = this.exit;
    if (signal) return `was killed by ${signal}`;
    // the sandbox's helper exits 128+N when the worker was killed by signal N
    const name = code !== null && code > 128 ? signalName(code - 128) : undefined;
    return name ? `was killed by ${name} (exit code ${code})` : `exited with code ${code}`;
  }

  /** Stop the worker and kill its sandbox (or keep the sandbox for `seedfork shell`). */
  release(keep: boolean): Promise<boolean> {
    // killing the sandbox ends the worker with it (killing the worker's helper first would
    // leave the sandbox's init a process to reap and make the kill wait)
    return this.lease.release(keep);
  }
}

/**
 * A warm pool of sandboxes with a worker already started in each (see {@link WarmPool}): while
 * the workers run test files, the next sandboxes are forked, their services started and their
 * runner workers booted, so a file starts as soon as a worker is free. One waits ready per
 * worker (at most {@link MAX_STARTED_AHEAD}): booting a runner's worker takes a few hundred ms,
 * longer than many test files, so with fewer the workers that finish together would wait for
 * it. A worker waiting costs memory only; booting it is CPU that the runner's own pool spends
 * too (it starts a process per file). Forks and service starts run as {@link warmPoolSize} says.
 * @param start starts the worker in a fresh sandbox; its failure is the acquire's
 */
export function startedWorkerPool(
  environment: TestEnvironment,
  workers: number,
  start: (lease: Lease) => StartedWorker,
): WarmPool<StartedWorker> {
  return new WarmPool(
    async () => {
      const lease = await environment.acquire();
      try {
        return start(lease);
      } catch (error) {
        await lease.release(false);
        throw error;
      }
    },
    { ahead: Math.min(MAX_STARTED_AHEAD, Math.max(1, workers)), parallel: warmPoolSize(workers).parallel },
  );
}
