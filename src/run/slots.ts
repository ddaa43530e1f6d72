import { CancelledError } from '../errors/seedfork-error.js';

/**
 * A counting semaphore: at most `size` tasks hold a slot at once, the others wait their turn,
 * first come, first served. The audit gives one to all its sandboxed work (isolated file runs,
 * order sequences, culprit searches, reruns), so that different kinds of runs share the
 * workers without ever running more sandboxes at once than there are workers.
 */
export class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];

  /** @param size slots (workers), at least 1 */
  constructor(
    readonly size: number,
    private readonly signal?: AbortSignal,
  ) {
    this.free = Math.max(1, size);
  }

  /**
   * Run `task` in a slot once one is free; the slot is freed when it settles.
   * @throws CancelledError when the signal aborted while it waited (the task does not run);
   *   otherwise what `task` throws
   */
  async use<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      if (this.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.free++;
    }
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }
}
