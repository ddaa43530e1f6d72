import { expect, test } from 'vitest';
import type { Timings } from '../plan/timings.js';
import type { FileResult } from '../report/types.js';
import { plainRunEstimateMs, QUICK_BUDGET_PLAIN_RUNS, quickSearchDeadline } from './quick-budget.js';

const timings = (files: Record<string, [number, number?]>): Timings => ({
  version: 1,
  updatedAt: '2026-12-05T00:00:00Z',
  files: Object.fromEntries(
    Object.entries(files).map(([file, [durationMs, setupMs]]) => [
      file,
      {
        durationMs,
        ...(setupMs === undefined ? {} : { setupMs }),
        samples: 1,
        updatedAt: '2026-12-05T00:00:00Z',
      },
    ]),
  ),
});
const result = (file: string, durationMs: number, setupMs: number) =>
  ({
    file,
    durationMs,
    setupMs,
    status: 'passed',
    exitCode: 0,
    tests: [],
    output: '',
  }) as unknown as FileResult;

test('a plain run is estimated as the longest worker of the longest-first packing, from the recorded timings first', () => {
  const recorded = timings({ a: [3000, 100], b: [2000, 100], c: [1000, 100], d: [900, 100] });
  // two workers, costliest first onto the lighter one: a | b, then c on b's (3200), d on a's (4100)
  expect(plainRunEstimateMs(['a', 'b', 'c', 'd'], 2, recorded, undefined)).toBe(4100);
  expect(plainRunEstimateMs(['a', 'b', 'c', 'd'], 4, recorded, undefined)).toBe(3100);
  // a file the timings do not know: the audit's isolated run stands in
  const isolated = [result('a', 500, 50), result('e', 400, 50)];
  expect(plainRunEstimateMs(['a', 'e'], 1, recorded, isolated)).toBe(1000);
  // neither knows every file
  expect(plainRunEstimateMs(['a', 'f'], 1, recorded, isolated)).toBeUndefined();
});

test('quick searches end when the budget less one plain run (the shared run after them) is spent', () => {
  expect(quickSearchDeadline(10_000, 2_000)).toBe(10_000 + (QUICK_BUDGET_PLAIN_RUNS - 1) * 2_000);
});
