/** One run of one test, as the history holds it. */
export interface TestRun {
  /** When the run happened, epoch ms. */
  at: number;
  build: string;
  attempt: number;
  commit?: string;
  branch?: string;
  status: 'passed' | 'failed' | 'skipped' | 'flaky';
  /** Attempts inside the run that failed before its final status. */
  retryFailures: number;
}

/** What the history says about one test over a window. */
export interface Verdict {
  status: 'flaky' | 'broken' | 'fixed' | 'healthy';
  /** Runs that ran the test (skipped ones left out). */
  runs: number;
  /** Runs whose final status was failed. */
  failures: number;
  /** Runs that were part of a flake: failed where the same commit also passed, a retry inside
   * the run passed, or a short failure streak between passes on one branch. */
  flakyRuns: number;
  /** flakyRuns / runs (0 without runs). */
  flakeRate: number;
  firstFlakyAt?: number;
  lastFailureAt?: number;
  /** For `broken`: the run from which every run failed. */
  brokenSince?: { at: number; build: string; commit?: string };
  /** For `fixed`: the first passing run after the regression, on a new commit. */
  fixedAt?: { at: number; build: string; commit?: string };
}

/** How the verdicts judge. */
export interface VerdictOptions {
  /** A failure streak this many runs long or longer is a regression, not a flake (default 2). */
  regressionRuns: number;
}

/** A trailing failure streak counts as broken only when a test failing as often as this one
 * did before it would fail that many times in a row with less than this probability (0.1%). */
const CHANCE = 0.001;

const passedRun = (r: TestRun) => r.status === 'passed' || r.status === 'flaky';

/**
 * Judge one test from its runs, following two definitions of a flaky test:
 * - it passed and failed on the same code: DeFlaker (Bell et al., ICSE 2018) and Google's
 *   flaky-test tooling (Micco, "Flaky Tests at Google and How We Mitigate Them", 2016), as
 *   Trunk and BuildPulse apply them: failed and passed runs of one commit (job attempts,
 *   reruns), or a run that failed and then passed on a retry inside it;
 * - its result flips pass -> fail -> pass on one branch with the failure streak shorter than
 *   `regressionRuns` (Memon et al., "Taming Google-Scale Continuous Testing", ICSE-SEIP 2017,
 *   count such transitions), or longer but no longer than the test's failure rate elsewhere
 *   explains (p^n >= 0.1%); a streak beyond both, ended by a pass on a new commit, is a
 *   regression that was fixed, not a flake.
 * `broken`: the latest runs on a branch all fail, at least `regressionRuns` of them and more
 * than the test's own failure rate before them explains (p^n < 0.1%), with no same-commit pass
 * among them;
 * those runs never count as flaky. `fixed`: the last regression ended with a pass on a new
 * commit. Status order: broken, flaky, fixed, healthy.
 * @param runs the test's runs in any order
 */
export function judge(runs: TestRun[], options: VerdictOptions): Verdict {
  const ran = runs.filter((r) => r.status !== 'skipped').sort((a, b) => a.at - b.at || a.attempt - b.attempt);
  const flaky = new Set<TestRun>();
  // 1. same code: a retry inside the run passed, or the commit has both outcomes
  for (const r of ran)
    if (r.status === 'flaky' || (r.status === 'passed' && r.retryFailures > 0)) flaky.add(r);
  const byCommit = groupBy(ran, (r) => r.commit ?? `build:${r.build}`);
  for (const group of byCommit.values()) {
    if (group.some(passedRun) && group.some((r) => r.status === 'failed')) {
      for (const r of group) if (r.status === 'failed') flaky.add(r);
    }
  }
  // 2. per branch: failure streaks between passes
  const streaks: TestRun[][] = [];
  const trailing: TestRun[][] = [];
  for (const lane of groupBy(ran, (r) => r.branch ?? '').values()) {
    let streak: TestRun[] = [];
    let passedBefore = false;
    for (const r of lane) {
      if (r.status === 'failed') {
        streak.push(r);
        continue;
      }
      if (streak.length > 0 && passedBefore) streaks.push(streak);
      streak = [];
      passedBefore = true;
    }
    if (streak.length > 0) trailing.push(streak);
  }
  // the test's failure rate outside a streak: what chance alone would repeat
  const rateOutside = (streak: TestRun[]) => {
    const outside = ran.length - streak.length;
    const failed = ran.filter((r) => r.status === 'failed' && !streak.includes(r)).length;
    return outside > 0 ? failed / outside : 0;
  };
  /** Whether a streak is longer than `regressionRuns` and than the test's failure rate explains. */
  const beyondChance = (streak: TestRun[]) => {
    const rate = rateOutside(streak);
    return streak.length >= options.regressionRuns && (rate === 0 || rate ** streak.length < CHANCE);
  };
  const regressions: TestRun[][] = [];
  for (const streak of streaks) {
    if (beyondChance(streak)) regressions.push(streak);
    else for (const r of streak) flaky.add(r);
  }
  // 3. broken: a trailing streak longer than the test's own flakiness explains
  let broken: TestRun[] | undefined;
  for (const streak of trailing) {
    if (streak.some((r) => flaky.has(r))) continue; // its commit also passed: a flake
    if (beyondChance(streak)) {
      if (!broken || streak[0]!.at < broken[0]!.at) broken = streak;
    } else if (rateOutside(streak) > 0) for (const r of streak) flaky.add(r);
  }
  const failures = ran.filter((r) => r.status === 'failed');
  const flakyRuns = [...flaky].filter((r) => !broken?.includes(r));
  const verdict: Verdict = {
    status: 'healthy',
    runs: ran.length,
    failures: failures.length,
    flakyRuns: flakyRuns.length,
    flakeRate: ran.length > 0 ? flakyRuns.length / ran.length : 0,
  };
  if (flakyRuns.length > 0) verdict.firstFlakyAt = Math.min(...flakyRuns.map((r) => r.at));
  if (failures.length > 0) verdict.lastFailureAt = failures.at(-1)!.at;
  if (broken) {
    const first = broken[0]!;
    return { ...verdict, status: 'broken', brokenSince: point(first) };
  }
  if (flakyRuns.length > 0) return { ...verdict, status: 'flaky' };
  const lastRegression = regressions.sort((a, b) => a.at(-1)!.at - b.at(-1)!.at).at(-1);
  if (lastRegression) {
    const end = lastRegression.at(-1)!;
    const next = ran.find((r) => r.at > end.at && passedRun(r) && (r.branch ?? '') === (end.branch ?? ''));
    if (next && (next.commit === undefined || next.commit !== end.commit)) {
      return { ...verdict, status: 'fixed', fixedAt: point(next) };
    }
  }
  return verdict;
}

function point(r: TestRun): { at: number; build: string; commit?: string } {
  return { at: r.at, build: r.build, ...(r.commit ? { commit: r.commit } : {}) };
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
