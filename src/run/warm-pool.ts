/**
 * Sandboxes made ready ahead of need: while workers run test files, the pool forks the next
 * sandboxes and starts their services, so a worker that finishes a file takes a ready one
 * instead of waiting for a fork and a PostgreSQL start (35 ms quiet, 77-240 ms under load,
 * measured for issue 10). A prepared sandbox is handed out once and never back: release kills
 * it, so a test can never see another's leftovers.
 *
 * The pool prepares only as many as it was told to expect (`expect`), at most `ahead` waiting at
 * once and `parallel` being prepared at once, so it neither forks sandboxes nobody takes nor
 * takes the workers' CPUs.
 */
export interface PoolOptions {
  /** Prepared items waiting at most at once. */
  ahead: number;
  /** Items being prepared at most at once. */
  parallel: number;
}

/** What the pool hands out: something that can be given back (killed) when not used. */
export interface Releasable {
  release(keep: boolean): Promise<boolean>;
}

export class WarmPool<T extends Releasable> {
  /** Prepared or being prepared, oldest first; each is taken by exactly one `acquire`. */
  private readonly slots: Promise<T>[] = [];
  private expected = 0;
  private preparing = 0;
  private closed = false;

  /**
   * @param prepare makes one ready item (a forked sandbox with its services up)
   */
  constructor(
    private readonly prepare: () => Promise<T>,
    private readonly options: PoolOptions,
  ) {}

  /**
   * Expect `count` more acquires: the pool may prepare up to that many ahead of them.
   * `Infinity` when the number is not known (Vitest hands files to its pool one at a time): the
   * pool then keeps `ahead` items ready until it is closed, which kills those nobody took.
   */
  expect(count: number): void {
    this.expected += count;
    this.fill();
  }

  /**
   * The oldest prepared item, or a new one prepared now when none is waiting.
   * @throws what preparing it threw (a service that would not start)
   */
  async acquire(): Promise<T> {
    if (this.expected > 0) this.expected--;
    const slot = this.slots.shift();
    this.fill();
    return slot ?? this.prepare();
  }

  /** Stop preparing, and release (kill) every prepared item nobody took. Never throws. */
  async close(): Promise<void> {
    this.closed = true;
    const left = this.slots.splice(0);
    await Promise.all(
      left.map(async (slot) => {
        try {
          await (await slot).release(false);
        } catch {
          // its preparation failed: nothing to release
        }
      }),
    );
  }

  /** Items prepared or being prepared and not yet taken. */
  get waiting(): number {
    return this.slots.length;
  }

  private fill(): void {
    while (
      !this.closed &&
      this.slots.length < Math.min(this.options.ahead, this.expected) &&
      this.preparing < this.options.parallel
    ) {
      this.preparing++;
      const slot = this.prepare().finally(() => {
        this.preparing--;
        this.fill();
      });
      slot.catch(() => {}); // reported to the acquire that takes it
      this.slots.push(slot);
    }
  }
}
