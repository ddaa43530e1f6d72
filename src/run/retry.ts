import type { AttemptFailure, FileResult, TestCaseResult } from '../report/types.js';

const failureOf = (t: TestCaseResult): AttemptFailure => ({
  message: t.message ?? 'failed',
  ...(t.details ? { details: t.details } : {}),
});

/**
 * Combine the attempts of one file (first run, then retries in fresh forks, in order) into one
 * result that never hides flakiness, following Maven Surefire's rerun semantics
 * (https://maven.apache.org/surefire/maven-surefire-plugin/examples/rerun-failing-tests.html):
 * - the file's last attempt passed after a failed one: the file is `flaky`, and each test case
 *   that failed in an earlier attempt is `flaky` with those failures as `flakyFailures`;
 * - the last attempt failed too: the file keeps `failed`/`error`; a case failing in the first
 *   attempt keeps that failure and lists the later ones as `rerunFailures`.
 * Durations are the last attempt's; the output and the artifacts are every attempt's (the
 * output separated by a header per attempt).
 */
export function combineAttempts(attempts: FileResult[]): FileResult {
  const last = attempts.at(-1)!;
  if (attempts.length === 1) return last;
  const passedInTheEnd = last.status === 'passed';
  const failuresByName = new Map<string, AttemptFailure[]>();
  for (const attempt of attempts.slice(0, -1)) {
    for (const t of attempt.tests)
      if (t.status === 'failed')
        failuresByName.set(t.name, [...(failuresByName.get(t.name) ?? []), failureOf(t)]);
    if (attempt.status === 'error' && attempt.tests.length === 0)
      failuresByName.set('(file)', [
        ...(failuresByName.get('(file)') ?? []),
        { message: attempt.error ?? 'error' },
      ]);
  }
  const tests: TestCaseResult[] = last.tests.map((t) => {
    const earlier = failuresByName.get(t.name) ?? [];
    if (t.status === 'passed' && earlier.length > 0) return { ...t, status: 'flaky', flakyFailures: earlier };
    if (t.status === 'failed') {
      const [first, ...reruns] = attempts
        .map((a) => a.tests.find((x) => x.name === t.name))
        .filter((x): x is TestCaseResult => x?.status === 'failed');
      return {
        ...t,
        ...(first ? { message: first.message, details: first.details } : {}),
        rerunFailures: reruns.map(failureOf),
      };
    }
    return t;
  });
  const output = attempts
    .map((a, i) => `----- attempt ${i + 1} of ${attempts.length} (${a.status}) -----\n${a.output}`)
    .join('\n');
  const artifacts = attempts.flatMap((a) => a.artifacts ?? []);
  return {
    ...last,
    status: passedInTheEnd ? 'flaky' : last.status,
    attempts: attempts.length,
    tests,
    output,
    ...(artifacts.length > 0 ? { artifacts } : {}),
  };
}
