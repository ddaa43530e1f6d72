import { SeedforkError } from '../errors/seedfork-error.js';
import type { Snapshot as BackendSnapshot } from '../sandbox/types.js';
import { type SandboxOptions, type SdkContext, sdkContext } from './context.js';
import { sandboxesThatFit } from './memory-budget.js';
import { type ForkOptions, Sandbox } from './sandbox.js';

/**
 * Frozen state of a seeded base sandbox, cached on disk under its key, to fork sandboxes
 * from: `await snap.fork()` gives a sandbox with the services started from their seeded data
 * (namespace, about 50 ms with PostgreSQL) or running as they were saved (microvm).
 */
export class Snapshot {
  private deleted = false;
  private readonly forks = new Set<Sandbox>();

  /** @internal made by Sandbox.snapshot, Snapshot.open and Snapshot.cached */
  constructor(
    private readonly context: SdkContext,
    private readonly frozen: BackendSnapshot,
  ) {}

  /** The cache key it was made under. */
  get key(): string {
    return this.frozen.key;
  }

  /** ISO 8601 time it was frozen. */
  get createdAt(): string {
    return this.frozen.createdAt;
  }

  /**
   * The cached snapshot with this key, made by this process or an earlier one with the same
   * `dir`, `stateDir` and backend, or undefined.
   * @throws SeedforkError on invalid options, or a backend that cannot run here
   */
  static async open(options: SandboxOptions & { key: string }): Promise<Snapshot | undefined> {
    const context = await sdkContext(options);
    const frozen = await context.backend.openSnapshot(options.key);
    return frozen && new Snapshot(context, frozen);
  }

  /**
   * The snapshot cached under `options.key`, or, when there is none, a base sandbox seeded by
   * `seed` (which runs the install, migrate and seed commands in it) and snapshotted.
   * @throws SeedforkError as Sandbox.create, or what `seed` throws (nothing is cached then)
   */
  static async cached(
    options: SandboxOptions & { key: string },
    seed: (base: Sandbox) => Promise<void>,
  ): Promise<Snapshot> {
    const existing = await Snapshot.open(options);
    if (existing) return existing;
    const base = await Sandbox.create(options);
    try {
      await seed(base);
      return await base.snapshot();
    } finally {
      await base.kill();
    }
  }

  /**
   * A new sandbox forked from this snapshot, its services up.
   * @throws SeedforkError when the snapshot was deleted, when the process's live sandboxes
   *   already reserve the memory budget (see forksThatFit; `wait` waits instead), or when a
   *   service does not start
   */
  async fork(options: ForkOptions = {}): Promise<Sandbox> {
    if (this.deleted || !(await this.context.backend.openSnapshot(this.key)))
      throw new SeedforkError(`snapshot ${this.key} was deleted: there is nothing to fork`, {
        hint: 'Make it again (Sandbox.create … snapshot(), or Snapshot.cached).',
      });
    const sandbox = await Sandbox.fork(this.context, this.frozen, options);
    this.forks.add(sandbox);
    return sandbox;
  }

  /** How many more forks fit in the memory budget now (each reserves its memory limit): the
   * concurrency to run forks at. */
  forksThatFit(): number {
    return sandboxesThatFit(this.context.reserveBytes, this.context.budgetBytes);
  }

  /**
   * Remove the snapshot from the cache; later forks of it are refused.
   * @throws SeedforkError while forks of it made here are live or kept; Error when another
   *   seedfork process uses it
   */
  async delete(): Promise<void> {
    const live = [...this.forks].filter((f) => f.status !== 'killed');
    if (live.length > 0)
      throw new SeedforkError(
        `snapshot ${this.key} has ${live.length} live or kept fork(s) (${live.map((f) => f.status).join(', ')}), which read its files: kill them first`,
      );
    this.deleted = true;
    await this.context.backend.deleteSnapshot(this.key);
  }
}
