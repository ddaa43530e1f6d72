/**
 * Synthetic CI histories with known truth, for testing the verdicts and for the history demo:
 * services with tests that are healthy, flaky at a given rate, broken from some build on, or
 * broken for a while and then fixed; each build a new commit on `main`, and a failed job rerun
 * on the same commit with probability `rerunRate` (as CI retries do). Deterministic per seed.
 */
import type { TestRun } from './verdicts.js';

/** What a generated test really is. */
export type Truth =
  | { kind: 'healthy' }
  | { kind: 'flaky'; rate: number }
  | { kind: 'broken'; fromBuild: number }
  | { kind: 'fixed'; fromBuild: number; toBuild: number };

export interface GeneratedTest {
  service: string;
  file: string;
  name: string;
  truth: Truth;
  runs: TestRun[];
}

export interface HistoryShape {
  seed: number;
  services: string[];
  builds: number;
  /** First build's time, epoch ms; builds come every `everyMs`. */
  start: number;
  everyMs: number;
  /** Tests per service of each kind. */
  healthy: number;
  flaky: { rate: number; count: number }[];
  broken: number;
  fixed: number;
  /** Probability that a job with a failure is run again on the same commit. */
  rerunRate: number;
}

/** Mulberry32: a small, fast PRNG with a 32-bit state (Tommy Ettinger's public-domain design). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Generate every test's runs. */
export function generateHistory(shape: HistoryShape): GeneratedTest[] {
  const rand = random(shape.seed);
  const tests: GeneratedTest[] = [];
  const pick = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo));
  for (const service of shape.services) {
    const truths: Truth[] = [
      ...Array.from({ length: shape.healthy }, (): Truth => ({ kind: 'healthy' })),
      ...shape.flaky.flatMap(({ rate, count }) =>
        Array.from({ length: count }, (): Truth => ({ kind: 'flaky', rate })),
      ),
      ...Array.from(
        { length: shape.broken },
        (): Truth => ({
          kind: 'broken',
          fromBuild: pick(Math.floor(shape.builds / 2), shape.builds - 5),
        }),
      ),
      ...Array.from({ length: shape.fixed }, (): Truth => {
        const fromBuild = pick(Math.floor(shape.builds / 4), Math.floor(shape.builds / 2));
        return { kind: 'fixed', fromBuild, toBuild: fromBuild + pick(3, 8) };
      }),
    ];
    truths.forEach((truth, i) => {
      tests.push({ service, file: `test/t${i % 7}.test.ts`, name: `${truth.kind} ${i}`, truth, runs: [] });
    });
  }
  const fails = (truth: Truth, build: number) => {
    switch (truth.kind) {
      case 'healthy':
        return false;
      case 'flaky':
        return rand() < truth.rate;
      case 'broken':
        return build >= truth.fromBuild;
      case 'fixed':
        return build >= truth.fromBuild && build < truth.toBuild;
    }
  };
  for (const service of shape.services) {
    const own = tests.filter((t) => t.service === service);
    for (let build = 0; build < shape.builds; build++) {
      const commit = `${service}-c${build}`;
      let attempt = 1;
      for (;;) {
        const at = shape.start + build * shape.everyMs + (attempt - 1) * 600_000;
        let anyFailed = false;
        for (const t of own) {
          const failed = fails(t.truth, build);
          anyFailed ||= failed;
          t.runs.push({
            at,
            build: String(build),
            attempt,
            commit,
            branch: 'main',
            status: failed ? 'failed' : 'passed',
            retryFailures: 0,
          });
        }
        if (!anyFailed || attempt >= 2 || rand() >= shape.rerunRate) break;
        attempt++;
      }
    }
  }
  return tests;
}
