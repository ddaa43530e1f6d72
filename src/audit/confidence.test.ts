import { expect, test } from 'vitest';
import {
  confidenceOf,
  DETECTION,
  detectionProbability,
  missableRate,
  needsReruns,
  RERUN_CONFIDENCE,
  rerunsNeeded,
  runsToDetect,
} from './confidence.js';
import type { Observation } from './types.js';

const runs = (kind: Observation['kind'], statuses: string): Observation[] =>
  [...statuses].map((s, i) => ({ run: `${kind} #${i + 1}`, kind, status: s === 'F' ? 'failed' : 'passed' }));

test('the arithmetic: (1 - p)^n misses, the runs a rate needs, the rates passes leave open', () => {
  expect(detectionProbability(0.3, 3)).toBeCloseTo(1 - 0.343, 10);
  expect(runsToDetect(0.3, 0.95)).toBe(9); // 0.7^8 = 5.8% > 5% >= 0.7^9 = 4.0%
  expect(runsToDetect(DETECTION.rate, RERUN_CONFIDENCE)).toBe(13);
  expect(missableRate(9, 0.95)).toBeCloseTo(1 - 0.05 ** (1 / 9), 10);
  expect(detectionProbability(missableRate(20, 0.95), 20)).toBeCloseTo(0.95, 10);
  expect(missableRate(0, 0.95)).toBe(1);
});

test('each class says how sure it is, on how many runs', () => {
  const nod = confidenceOf('non-deterministic', runs('isolated', 'PFP'));
  expect(nod).toMatchObject({ runs: 3, isolatedRuns: 3, value: 1 });
  expect(nod.statement).toMatch(/certain: .*1 of 3 isolated runs failed/);
  const od = confidenceOf('order-dependent', [...runs('isolated', 'PPP'), ...runs('order', 'F')]);
  expect(od.value).toBeCloseTo(1 - 0.7 ** 3, 10);
  expect(od.statement).toBe(
    'it passed all 3 isolated runs: a test failing 30% of the time alone would have failed there with 65.7% probability',
  );
  const steady = confidenceOf('stable-pass', runs('isolated', 'PPPPPPPP'));
  expect(steady.statement).toMatch(
    /^a test failing 30% of the time would have shown it in these 8 runs with 94\.2% probability; failing rates above 31\.2% are ruled out at 95%$/,
  );
});

test('reruns are asked for where isolated runs all agreed but the test did otherwise elsewhere', () => {
  expect(needsReruns('shared-state', [...runs('isolated', 'PPP'), ...runs('shared', 'F')])).toBe(true);
  expect(needsReruns('order-dependent', runs('isolated', 'P'.repeat(13)))).toBe(false);
  expect(needsReruns('brittle', runs('isolated', 'FFFF'))).toBe(true);
  expect(needsReruns('non-deterministic', runs('isolated', 'PF'))).toBe(false);
  expect(needsReruns('stable-pass', runs('isolated', 'PPP'))).toBe(false);
});

test('rerunsNeeded: the isolated runs still missing for 99%, none for classes that do not rest on them', () => {
  expect(rerunsNeeded('order-dependent', [...runs('isolated', 'PPP'), ...runs('order', 'F')])).toBe(10);
  expect(rerunsNeeded('shared-state', runs('isolated', 'P'.repeat(20)))).toBe(0);
  expect(rerunsNeeded('non-deterministic', runs('isolated', 'PF'))).toBe(0);
});
