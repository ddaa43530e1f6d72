import { expect, test } from 'vitest';
import type { FileCost } from './cost.js';
import { makePlan, predictWallMs } from './plan.js';

const cost = (file: string, ms: number): FileCost => ({
  file,
  ms,
  testMs: ms,
  setupMs: 0,
  source: 'recorded',
  sizeBytes: 1,
});

test('predicts wall time as workers pulling the longest file first', () => {
  const costs = [cost('a', 10), cost('b', 4), cost('c', 3), cost('d', 3)];
  expect(predictWallMs(costs, 1)).toBe(20);
  expect(predictWallMs(costs, 2)).toBe(10); // a | b, c, d
  expect(predictWallMs(costs, 8)).toBe(10);
  expect(predictWallMs([], 2)).toBe(0);
});

test('a plan is the same on every machine and identifies its split', () => {
  const costs = [cost('x', 5), cost('y', 7), cost('z', 1)];
  const one = makePlan(costs, { shards: 2, strategy: 'timing', workers: 1 });
  const two = makePlan([...costs].reverse(), { shards: 2, strategy: 'timing', workers: 1 });
  expect(two).toEqual(one);
  expect(one.files).toEqual(['x', 'y', 'z']);
  expect(one.shards.map((s) => s.files.map((c) => c.file))).toEqual([['y'], ['x', 'z']]);
  expect(one.shards.map((s) => s.workMs)).toEqual([7, 6]);
  expect(one.balance).toBeCloseTo(7 / 6.5);
  expect(makePlan(costs, { shards: 3, strategy: 'timing', workers: 1 }).suiteId).not.toBe(one.suiteId);
  expect(makePlan(costs, { shards: 2, strategy: 'hash', workers: 1 }).suiteId).not.toBe(one.suiteId);
});
