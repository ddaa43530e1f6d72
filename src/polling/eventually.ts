import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** How long to keep trying, in ms; default 5000. */
  timeoutMs?: number;
  /** Pause between attempts, in ms; default 50. */
  intervalMs?: number;
}

/**
 * Run `assertion` until it passes (returns or resolves without throwing), for state that
 * becomes true eventually: a queue consumer's write, a cache refresh, a second service's
 * view of the first one's data. Returns what the passing attempt returned.
 *
 * When time runs out it throws the last attempt's own error (its message, and the expected and
 * actual values runners diff), with how long it waited and how many attempts it made added to
 * the message, never a bare timeout. An attempt still running at the deadline is not waited for:
 * the error then says the assertion did not settle in time.
 * @throws the last assertion error, annotated; a TypeError for a negative or non-finite option
 */
export async function eventually<T>(
  assertion: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 50;
  for (const [name, v] of Object.entries({ timeoutMs, intervalMs }))
    if (!Number.isFinite(v) || v < 0)
      throw new TypeError(`eventually: ${name} must be a number of ms >= 0, not ${v}`);
  const started = performance.now();
  let attempts = 0;
  let last: unknown;
  for (;;) {
    attempts++;
    const left = timeoutMs - (performance.now() - started);
    const outcome = await settleWithin(assertion, Math.max(left, 0));
    if (outcome.kind === 'passed') return outcome.value;
    const waited = Math.round(performance.now() - started);
    if (outcome.kind === 'hung')
      throw annotate(
        last,
        `eventually: attempt ${attempts} did not settle before the ${timeoutMs} ms timeout (waited ${waited} ms)`,
      );
    last = outcome.error;
    if (performance.now() - started + intervalMs > timeoutMs)
      throw annotate(
        last,
        `eventually: still failing after ${waited} ms and ${attempts} attempt${attempts === 1 ? '' : 's'}`,
      );
    await sleep(intervalMs);
  }
}

type Outcome<T> = { kind: 'passed'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'hung' };

/** One attempt, given at most `ms` to settle (an attempt that throws synchronously fails at once). */
async function settleWithin<T>(assertion: () => T | Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const attempt = (async (): Promise<Outcome<T>> => {
    try {
      return { kind: 'passed', value: await assertion() };
    } catch (error) {
      return { kind: 'failed', error };
    }
  })();
  const deadline = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'hung' }), ms);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The error to throw: the assertion's own (so runners still show its diff), its message
 * followed by `note`; a new Error when there is none or it is not an Error.
 */
function annotate(error: unknown, note: string): Error {
  if (!(error instanceof Error)) {
    return new Error(error === undefined ? note : `${note}; last attempt threw: ${String(error)}`);
  }
  const original = error.message;
  error.message = `${original}\n${note}`;
  if (error.stack?.includes(original)) error.stack = error.stack.replace(original, error.message);
  return error;
}
