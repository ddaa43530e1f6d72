import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Zygote } from './zygote.js';

/**
 * One seedfork process's claim on a state directory, so that any number of runs, audits,
 * `gc` and `shell` processes share it safely: a file `<stateDir>/runs/<id>.lock` on which this
 * process's namespace helper holds an exclusive flock(2) for as long as the process lives. The
 * kernel drops the lock when the process dies, however it dies, so a held lock never belongs
 * to a dead run, and (unlike a pid) a run id is never reused.
 *
 * Everything a run creates is labelled with its id: sandbox directories (`run` file, meta),
 * snapshot builds (`owner`) and cgroups (`<base>/<project>/<run>/`). `gc` removes them only
 * once the lock is free.
 */
export class RunLock {
  /** `<pid>-<random hex>`: unique per process and state directory. */
  readonly id = `${process.pid}-${randomBytes(4).toString('hex')}`;
  /** A stable name for the state directory (hash of its absolute path), used for cgroups. */
  readonly project: string;
  private readonly dir: string;
  private heldWith: Zygote | undefined;
  private pending: Promise<void> | undefined;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'runs');
    this.project = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 12);
  }

  /**
   * Take the lock (once per helper process: a helper that died took its locks with it, and
   * the next one takes them again).
   * @throws SeedforkError when the helper cannot take it.
   */
  async hold(): Promise<void> {
    const zygote = Zygote.get();
    if (this.heldWith === zygote) return;
    if (!this.pending) {
      this.pending = (async () => {
        mkdirSync(this.dir, { recursive: true });
        await zygote.lock(join(this.dir, `${this.id}.lock`));
        this.heldWith = zygote;
      })().finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  /** Whether run `id` (this one or another process's) still holds its lock. */
  async isLive(id: string | undefined): Promise<boolean> {
    if (id === undefined || !/^[\w-]+$/.test(id)) return false;
    // a lock taken with a helper that was stopped since (the SDK's close()) is held no more
    if (id === this.id) return this.heldWith !== undefined && this.heldWith === Zygote.current();
    return (await Zygote.get().probe(join(this.dir, `${id}.lock`))) === 'held';
  }

  /** Delete the lock files of runs that ended (their locks are free). */
  async removeEnded(isLive: (id: string) => Promise<boolean>): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const id = name.replace(/\.lock$/, '');
      if (id === name || (await isLive(id))) continue;
      rmSync(join(this.dir, name), { force: true });
    }
  }
}
