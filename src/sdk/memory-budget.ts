import { formatSize } from '../config/size.js';
import { SeedforkError } from '../errors/seedfork-error.js';

/** Bytes reserved by this process's live SDK sandboxes (their memory limits, summed). */
let reserved = 0;
let live = 0;
/** Reservations waiting for memory, first come first served. */
const waiting: { bytes: number; budget: number; grant: () => void }[] = [];

function take(bytes: number): () => void {
  reserved += bytes;
  live++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    reserved -= bytes;
    live--;
    // hand the memory on, in arrival order
    while (waiting.length > 0 && reserved + waiting[0]!.bytes <= waiting[0]!.budget) waiting.shift()!.grant();
  };
}

/**
 * Reserve `bytes` of a process-wide `budget` for one sandbox, before it is made. With `wait`,
 * a reservation that does not fit now waits (first come, first served) until live sandboxes
 * are killed; without it, it is refused.
 * @returns the release function (idempotent)
 * @throws SeedforkError when it does not fit and `wait` is false, or when one sandbox needs more
 *   than the whole budget: names how many are live, what they hold and the ways out
 */
export async function reserveMemory(
  bytes: number,
  budget: number,
  options: { wait?: boolean } = {},
): Promise<() => void> {
  const fits = reserved + bytes <= budget && waiting.length === 0;
  if (fits) return take(bytes);
  if (options.wait && bytes <= budget)
    return new Promise((resolve) => waiting.push({ bytes, budget, grant: () => resolve(take(bytes)) }));
  throw new SeedforkError(
    bytes > budget
      ? `no memory for this sandbox: its memory limit (${formatSize(bytes)}) is more than the whole budget (${formatSize(budget)})`
      : `no memory for another sandbox: ${live} live sandbox(es) reserve ${formatSize(reserved)} of the ${formatSize(budget)} budget, and one more needs ${formatSize(bytes)} (its memory limit)`,
    {
      hint: 'Kill a sandbox first (bound how many forks are in flight by snapshot.forksThatFit()) or fork with { wait: true }, lower limits.memory, or raise memoryBudget.',
    },
  );
}

/** How many more sandboxes of `bytes` each fit in `budget` now. */
export function sandboxesThatFit(bytes: number, budget: number): number {
  return bytes > 0 ? Math.max(0, Math.floor((budget - reserved) / bytes)) : Number.POSITIVE_INFINITY;
}
