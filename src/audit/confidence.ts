import type { Category, Observation } from './types.js';

/**
 * What an audit is sized to catch, unless told otherwise: a test failing 30% of the time alone
 * shows a failure with 95% probability. Independent runs, each failing with probability p, show
 * no failure in n runs with probability (1 - p)^n (the reasoning behind iDFlakies' rerun counts,
 * Lam et al., ICST 2019, and the "how many reruns" analyses of flaky-test studies).
 */
export const DETECTION = { rate: 0.3, confidence: 0.95 };

/**
 * How sure the adaptive reruns make a class that rests on isolated runs that all agreed: a test
 * failing {@link DETECTION}.rate of its runs alone shows itself with this probability (13 isolated
 * runs at 30%). Simulated on a test failing 35% of its runs (2,000 seeds, default audit): called
 * non-deterministic in 96%, stable-pass in 3.5% (it never failed), order-dependent or
 * shared-state in 0.5%.
 */
export const RERUN_CONFIDENCE = 0.99;

/** Probability that a test failing with probability `rate` per run fails at least once in `runs` runs. */
export function detectionProbability(rate: number, runs: number): number {
  return 1 - (1 - rate) ** runs;
}

/** Runs needed to see a test failing with probability `rate` fail at least once with probability `confidence`. */
export function runsToDetect(rate: number, confidence: number): number {
  return Math.ceil(Math.log(1 - confidence) / Math.log(1 - rate));
}

/** The highest per-run failure rate that `runs` passing runs leave open at `confidence` (the rest are ruled out). */
export function missableRate(runs: number, confidence: number): number {
  return runs === 0 ? 1 : 1 - (1 - confidence) ** (1 / runs);
}

/** How sure an audit is of a test's class, and on how many runs that rests. */
export interface Confidence {
  /** Runs the test ran in (passed or failed), all setups together. */
  runs: number;
  /** Of which alone in a fresh sandbox. */
  isolatedRuns: number;
  /**
   * The probability that the evidence would have shown the test to be non-deterministic, were
   * it failing (or, for tests failing alone, passing) {@link DETECTION}.rate of its runs alone; 1
   * where the class rests on outcomes both seen in one setup.
   */
  value: number;
  /** The same, in a sentence. */
  statement: string;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/**
 * The confidence of a test's class (see {@link Confidence}): certain for a test seen both
 * passing and failing alone; otherwise the chance that a test failing (or passing) 30% of the
 * time alone would have shown it in the isolated runs it had. For a test that never failed,
 * also the failure rates the audit could have missed.
 */
export function confidenceOf(category: Category, observations: Observation[]): Confidence {
  const ran = observations.filter((o) => o.status === 'passed' || o.status === 'failed');
  const isolated = ran.filter((o) => o.kind === 'isolated');
  const base = { runs: ran.length, isolatedRuns: isolated.length };
  const { rate, confidence } = DETECTION;
  const r = pct(rate);
  /** A class resting on isolated runs that all agreed: how likely a 30% other outcome would have shown. */
  const agreed = (did: string, other: string, shown: string, where = ''): Confidence => {
    const value = detectionProbability(rate, isolated.length);
    return {
      ...base,
      value,
      statement: `it ${did} ${isolated.length} isolated runs${where}: a test ${other} ${r} of the time alone would have ${shown} there with ${pct(value)} probability`,
    };
  };
  switch (category) {
    case 'non-deterministic':
      return {
        ...base,
        value: 1,
        statement:
          isolated.some((o) => o.status === 'failed') && isolated.some((o) => o.status === 'passed')
            ? `certain: it both passed and failed alone in a fresh sandbox (${isolated.filter((o) => o.status === 'failed').length} of ${isolated.length} isolated runs failed)`
            : 'its failure did not replay in the same order',
      };
    case 'order-dependent':
    case 'shared-state':
      return agreed('passed all', 'failing', 'failed');
    case 'brittle':
      return agreed('failed all', 'passing', 'passed');
    case 'cache-dependent':
      return agreed('kept its outcome in all', 'flipping', 'flipped', ' with warm caches');
    case 'stable-pass':
    case 'stable-fail': {
      const value = detectionProbability(rate, ran.length);
      const outcome = category === 'stable-pass' ? 'failing' : 'passing';
      return {
        ...base,
        value,
        statement: `a test ${outcome} ${r} of the time would have shown it in these ${ran.length} runs with ${pct(value)} probability; ${outcome} rates above ${pct(missableRate(ran.length, confidence))} are ruled out at ${pct(confidence)}`,
      };
    }
    default:
      return { ...base, value: 0, statement: 'it never ran' };
  }
}

/**
 * How many more isolated runs a test needs: while its class rests on isolated runs that all
 * agreed and it did otherwise elsewhere (order-dependent, brittle, shared-state,
 * cache-dependent), a non-deterministic test could look the same, and more isolated runs tell
 * them apart: as many as {@link runsToDetect} asks for at {@link RERUN_CONFIDENCE}, less those
 * it had. 0 for every other class.
 */
export function rerunsNeeded(category: Category, observations: Observation[]): number {
  const resting: Category[] = ['order-dependent', 'brittle', 'shared-state', 'cache-dependent'];
  if (!resting.includes(category)) return 0;
  const isolated = observations.filter(
    (o) => o.kind === 'isolated' && (o.status === 'passed' || o.status === 'failed'),
  );
  return Math.max(0, runsToDetect(DETECTION.rate, RERUN_CONFIDENCE) - isolated.length);
}

/** Whether a test needs more isolated runs ({@link rerunsNeeded} > 0). */
export function needsReruns(category: Category, observations: Observation[]): boolean {
  return rerunsNeeded(category, observations) > 0;
}
