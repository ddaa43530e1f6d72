import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { FileResult } from '../report/types.js';
import { writeFileAtomic } from '../report/write.js';

const fileTimingSchema = z.object({
  durationMs: z.number().nonnegative(),
  setupMs: z.number().nonnegative().optional(),
  samples: z.number().int().positive(),
  updatedAt: z.string(),
  tests: z.record(z.string(), z.number().nonnegative()).optional(),
});

const timingsSchema = z.object({
  version: z.literal(1),
  updatedAt: z.string(),
  seedMs: z.number().nonnegative().optional(),
  files: z.record(z.string(), fileTimingSchema),
});

/** Recorded durations of one test file. */
export type FileTiming = z.infer<typeof fileTimingSchema>;

/**
 * The timings file (`.seedfork/timings.json` by default): per test file, the smoothed wall time
 * of its test command (`durationMs`), the time to fork its sandbox and start its services
 * (`setupMs`), and each test case's duration, all in ms. `seedMs` is the time the last run took
 * to seed or restore the snapshot. Commit it, or cache it between CI runs.
 */
export type Timings = z.infer<typeof timingsSchema>;

/**
 * Weight of the newest sample in the moving average. 0.5 re-learns a file whose duration really
 * changed within two or three runs while one slow outlier counts only half.
 */
export const SMOOTHING = 0.5;

/** Timings with no file known. */
export function emptyTimings(): Timings {
  return { version: 1, updatedAt: new Date(0).toISOString(), files: {} };
}

/**
 * Parse a timings document.
 * @throws SeedforkError when it is not JSON or not a seedfork timings file (naming the bad keys).
 */
export function parseTimings(text: string, path: string): Timings {
  const hint = `Delete ${path} (seedfork records a new one on the next run), or point --timings at the right file.`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SeedforkError(`the timings file ${path} is corrupt: ${(error as Error).message}`, {
      hint,
      cause: error,
    });
  }
  const parsed = timingsSchema.safeParse(raw);
  if (!parsed.success)
    throw new SeedforkError(`${path} is not a seedfork timings file:\n${formatIssues(parsed.error)}`, {
      hint,
    });
  return parsed.data;
}

/**
 * Read the timings file; a missing file is the empty timings (the first run records it).
 * @throws SeedforkError when the file is corrupt (see {@link parseTimings}).
 */
export function readTimings(path: string): Timings {
  if (!existsSync(path)) return emptyTimings();
  return parseTimings(readFileSync(path, 'utf8'), path);
}

/**
 * Refuse timings that belong to another suite: recorded files exist, yet none of them is one
 * of this suite's test files (a timings file copied from another project, or a cache restored
 * under the wrong key). Partial overlap is normal: files come and go.
 * @throws SeedforkError naming a few recorded and a few current files.
 */
export function assertSameSuite(timings: Timings, files: string[], path: string): void {
  const recorded = Object.keys(timings.files);
  if (recorded.length === 0 || files.length === 0) return;
  if (files.some((f) => timings.files[f] !== undefined)) return;
  throw new SeedforkError(
    `the timings file ${path} is from another suite: none of its ${recorded.length} files is one of the ${files.length} test files here (it has ${recorded.slice(0, 3).join(', ')}; this suite has ${files.slice(0, 3).join(', ')})`,
    {
      hint: `Delete ${path}, or check the CI cache key and the --timings path: timings must come from this suite.`,
    },
  );
}

function smooth(previous: number | undefined, sample: number): number {
  if (previous === undefined) return sample;
  return Math.round((previous * (1 - SMOOTHING) + sample * SMOOTHING) * 10) / 10;
}

/**
 * Fold a run's file results into `timings` (a new object; the input is not changed).
 * Files that errored (timeout, crash, cancellation) say nothing about their real duration and
 * are skipped. Durations are exponentially weighted moving averages ({@link SMOOTHING}).
 * `setupMs` is taken only from sandboxed runs (`--isolation none` has no fork).
 * `exists`, when given, drops recorded files that no longer exist.
 */
export function recordTimings(
  timings: Timings,
  results: FileResult[],
  options: { sandboxed: boolean; seedMs?: number; now?: Date; exists?: (file: string) => boolean },
): Timings {
  const now = (options.now ?? new Date()).toISOString();
  const files: Record<string, FileTiming> = {};
  for (const [file, timing] of Object.entries(timings.files)) {
    if (!options.exists || options.exists(file)) files[file] = timing;
  }
  for (const result of results) {
    if (result.status === 'error') continue;
    const previous = files[result.file];
    const tests: Record<string, number> = {};
    for (const t of result.tests) tests[t.name] = smooth(previous?.tests?.[t.name], t.durationMs);
    const setupMs = options.sandboxed ? smooth(previous?.setupMs, result.setupMs) : previous?.setupMs;
    files[result.file] = {
      durationMs: smooth(previous?.durationMs, result.durationMs),
      ...(setupMs !== undefined ? { setupMs } : {}),
      samples: (previous?.samples ?? 0) + 1,
      updatedAt: now,
      ...(result.tests.length > 0 ? { tests } : {}),
    };
  }
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const seedMs = options.seedMs ?? timings.seedMs;
  return { version: 1, updatedAt: now, ...(seedMs !== undefined ? { seedMs } : {}), files: sorted };
}

/** Write the timings file atomically (a reader never sees half of it). */
export function writeTimings(path: string, timings: Timings): void {
  writeFileAtomic(path, `${JSON.stringify(timings, null, 2)}\n`);
}

/** `exists` predicate for {@link recordTimings}: the file is still under `root`. */
export function existsUnder(root: string): (file: string) => boolean {
  return (file) => existsSync(join(root, file));
}
