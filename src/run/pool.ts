/**
 * Run `task` over `items` with at most `concurrency` at once, taking items in order.
 * Stops taking new items once `signal` is aborted. Task errors propagate after running tasks end.
 */
export async function runPool<T, R>(
  items: T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && !signal?.aborted && failure === undefined) {
      const index = next++;
      try {
        results[index] = await task(items[index]!, index);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure;
  return results;
}

/**
 * Where a run's workers get their work: the next unit (a group of files sharing a sandbox), after
 * reporting the unit they finished; undefined when there is no more. A list (`listSource`), or
 * the queue of `seedfork serve` shared by the CI jobs of a build (queue-client.ts).
 */
export interface WorkSource {
  /** @param finished the files of the caller's last unit (none on its first call) */
  next(finished: string[]): Promise<string[] | undefined>;
}

/** A source that hands out `units` in order. */
export function listSource(units: string[][]): WorkSource {
  let next = 0;
  return { next: async () => units[next++] };
}

/**
 * Run `task` on each unit `source` hands out, with `concurrency` workers asking it in parallel,
 * until it has no more or `signal` aborts. Task errors propagate after the running tasks end; a
 * worker whose task failed asks for no more.
 */
export async function runSource(
  source: WorkSource,
  concurrency: number,
  task: (unit: string[]) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let failure: unknown;
  const worker = async () => {
    let finished: string[] = [];
    while (!signal?.aborted && failure === undefined) {
      try {
        const unit = await source.next(finished);
        if (!unit || signal?.aborted) return;
        await task(unit);
        finished = unit;
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failure !== undefined) throw failure;
}
