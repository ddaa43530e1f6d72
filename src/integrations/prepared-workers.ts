import type { Lease } from '../run/environment.js';
import type { SpawnedProcess } from '../sandbox/index.js';

/** A worker forked into a sandbox before its file was known. */
interface Prepared {
  child: SpawnedProcess;
  /** What the worker was started with (environment, Node options), as its starter names it. */
  key: string;
  /** What it wrote to stdout and stderr before its file came. */
  early: Buffer[];
  keep: (chunk: Buffer) => void;
}

/**
 * Workers forked ahead of need into sandboxes the warm pool made ready (FileWorkers.prepare),
 * at most one per lease, each handed out once: the fork leaves the critical path between one
 * file and the next. A worker nobody takes dies with its sandbox.
 */
export class PreparedWorkers {
  private readonly byLease = new WeakMap<Lease, Prepared>();

  /** Keep `child`, started in the lease's sandbox with what `key` names, for {@link take}. */
  add(lease: Lease, key: string, child: SpawnedProcess): void {
    const early: Buffer[] = [];
    const keep = (chunk: Buffer) => early.push(chunk);
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // a worker that dies mid-write resets its pipes: its exit says why
    for (const stream of child.stdio) stream?.on('error', () => {});
    this.byLease.set(lease, { child, key, early, keep });
  }

  /**
   * The worker prepared in the lease's sandbox, with what it wrote so far, when it was started
   * with what `key` names and is still running; otherwise undefined (and a worker started
   * otherwise is killed: the caller starts its own).
   */
  take(lease: Lease, key: string): { child: SpawnedProcess; early: string } | undefined {
    const prepared = this.byLease.get(lease);
    if (!prepared) return undefined;
    this.byLease.delete(lease);
    const { child, early, keep } = prepared;
    child.stdout?.off('data', keep);
    child.stderr?.off('data', keep);
    if (prepared.key !== key || child.exitCode !== null) {
      child.kill('SIGKILL');
      return undefined;
    }
    return { child, early: Buffer.concat(early).toString('utf8') };
  }
}
