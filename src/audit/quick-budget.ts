import type { FileCost } from '../plan/cost.js';
import { partition } from '../plan/partition.js';
import type { Timings } from '../plan/timings.js';
import type { FileResult } from '../report/types.js';

/**
 * What a quick audit may cost in all, in plain runs of the suite (`seedfork run` with the same
 * workers): the goal issue 26 set for `seedfork audit --quick`.
 */
export const QUICK_BUDGET_PLAIN_RUNS = 4;

/**
 * The wall time of one plain run of `files` with `workers` workers, in ms: the longest worker
 * when the files are packed longest-first onto the workers (the plan `seedfork run` makes),
 * each file costing its sandbox setup plus its test command. The costs come from the recorded
 * timings when they know every file (what `seedfork run` measured), else from `isolated`, the
 * audit's own isolated run: that ran beside the reverse order, so it overstates a plain run
 * and the budget errs on the generous side.
 * @returns ms, > 0; undefined when neither source knows every file.
 */
export function plainRunEstimateMs(
  files: string[],
  workers: number,
  timings: Timings,
  isolated: FileResult[] | undefined,
): number | undefined {
  const recorded = files.map((file) => timings.files[file]);
  let costs: Pick<FileCost, 'file' | 'ms'>[] | undefined;
  if (recorded.every((t) => t !== undefined))
    costs = files.map((file, i) => ({ file, ms: recorded[i]!.durationMs + (recorded[i]!.setupMs ?? 0) }));
  else if (isolated && files.every((file) => isolated.some((r) => r.file === file)))
    costs = isolated.map((r) => ({ file: r.file, ms: r.durationMs + r.setupMs }));
  if (!costs || costs.length === 0) return undefined;
  const full = costs.map((c) => ({
    ...c,
    testMs: c.ms,
    setupMs: 0,
    source: 'recorded' as const,
    sizeBytes: 0,
  }));
  const makespan = Math.max(
    ...partition(full, workers, 'timing').map((bin) => bin.reduce((n, c) => n + c.ms, 0)),
  );
  return makespan > 0 ? makespan : undefined;
}

/**
 * When a quick audit's culprit searches must stop (epoch ms): the budget of
 * {@link QUICK_BUDGET_PLAIN_RUNS} plain runs counted from `startedAt` (after the snapshot is
 * ready: seeding is not the audit's cost), less one plain run kept for the shared run that
 * comes after the searches. The sandboxed runs before the searches spend part of it.
 */
export function quickSearchDeadline(startedAt: number, plainRunMs: number): number {
  return startedAt + (QUICK_BUDGET_PLAIN_RUNS - 1) * plainRunMs;
}
