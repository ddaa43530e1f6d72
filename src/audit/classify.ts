import type { FileResult } from '../report/types.js';
import type { AuditRun, Category, Observation, TestRef } from './types.js';

/** Name of the one test case of a file whose runner reports no cases. */
export const FILE_CASE = '(whole file)';

/** Key of a test case across runs: file + full name. */
export const testKey = (t: TestRef) => `${t.file}\u0000${t.name}`;

/**
 * Every test case seen in any run, with its outcome in each run. A file that crashed or timed
 * out without reporting its cases counts as a failure of each case it reported elsewhere.
 */
export function observe(runs: AuditRun[]): Map<string, { ref: TestRef; observations: Observation[] }> {
  const tests = new Map<string, { ref: TestRef; observations: Observation[] }>();
  const casesOf = new Map<string, Set<string>>();
  // A runner without a JUnit report (a plain command) has no cases: the file is the test.
  const reporting = new Set(
    runs.flatMap((r) => r.results.filter((f) => f.tests.length > 0).map((f) => f.file)),
  );
  runs = runs.map((run) => ({
    ...run,
    results: run.results.map((f) =>
      reporting.has(f.file)
        ? f
        : {
            ...f,
            tests: [
              {
                name: FILE_CASE,
                classname: f.file,
                status: f.status === 'passed' ? 'passed' : 'failed',
                durationMs: f.durationMs,
                ...(f.status === 'passed' ? {} : { message: f.error ?? `exited with ${f.exitCode}` }),
              },
            ],
          },
    ),
  }));
  for (const run of runs)
    for (const r of run.results)
      for (const t of r.tests) {
        const names = casesOf.get(r.file) ?? new Set<string>();
        names.add(t.name);
        casesOf.set(r.file, names);
        const key = testKey({ file: r.file, name: t.name });
        if (!tests.has(key)) tests.set(key, { ref: { file: r.file, name: t.name }, observations: [] });
      }
  for (const run of runs) {
    const byFile = new Map<string, FileResult>(run.results.map((r) => [r.file, r]));
    for (const [file, names] of casesOf) {
      const result = byFile.get(file);
      for (const name of names) {
        const entry = tests.get(testKey({ file, name }))!;
        const t = result?.tests.find((x) => x.name === name);
        let observation: Observation;
        if (t) {
          const status = t.status === 'flaky' ? 'failed' : t.status;
          observation = {
            run: run.label,
            kind: run.kind,
            status,
            ...(t.message ? { message: t.message.split('\n')[0]! } : {}),
          };
        } else if (result && result.status !== 'passed') {
          observation = {
            run: run.label,
            kind: run.kind,
            status: 'failed',
            message: result.error ?? `the file exited ${result.exitCode} without reporting this test`,
          };
        } else {
          observation = { run: run.label, kind: run.kind, status: 'missing' };
        }
        entry.observations.push(observation);
      }
    }
  }
  return tests;
}

/** A first classification from the runs alone; order-dependent and brittle ones are then searched. */
export interface Verdict {
  category: Category;
  reason: string;
}

const runList = (list: Observation[]) => list.map((o) => o.run).join(', ');

/**
 * Classify a test case from its observations (iDFlakies' categories, refined by where the
 * failures happened), the cold-cache run aside:
 * 1. mixed outcomes among isolated runs: non-deterministic;
 * 2. failed in every isolated run: brittle if it passed in some shared environment, else
 *    stable fail;
 * 3. passed in every isolated run: order-dependent if it failed in a sandboxed order run,
 *    shared-state if it failed only on the shared host, else stable pass.
 * Without isolated runs, the order runs stand in for them.
 * 4. otherwise stable, but the other outcome with every tool cache empty (the `cold` run):
 *    cache-dependent.
 */
export function classify(observations: Observation[]): Verdict {
  const verdict = classifyWarm(observations.filter((o) => o.kind !== 'cold'));
  const cold = observations.filter(
    (o) => o.kind === 'cold' && (o.status === 'passed' || o.status === 'failed'),
  );
  const flipped = cold.filter((o) => o.status === (verdict.category === 'stable-pass' ? 'failed' : 'passed'));
  if ((verdict.category === 'stable-pass' || verdict.category === 'stable-fail') && flipped.length > 0)
    return {
      category: 'cache-dependent',
      reason:
        verdict.category === 'stable-pass'
          ? `passed in every run with the tool caches warm, failed alone with every tool cache empty (${runList(flipped)})`
          : `failed in every run with the tool caches warm, passed alone with every tool cache empty (${runList(flipped)}): a stale or poisoned cache entry?`,
    };
  if (verdict.category === 'skipped' && cold.length > 0)
    return classifyWarm(observations.map((o) => (o.kind === 'cold' ? { ...o, kind: 'isolated' } : o)));
  return verdict;
}

/** {@link classify} from the runs with warm caches. */
function classifyWarm(observations: Observation[]): Verdict {
  const ran = observations.filter((o) => o.status === 'passed' || o.status === 'failed');
  if (ran.length === 0) return { category: 'skipped', reason: 'skipped (or not run) in every run' };
  const failed = (o: Observation) => o.status === 'failed';
  const isolated = ran.filter((o) => o.kind === 'isolated');
  const ordered = ran.filter((o) => o.kind === 'order');
  const shared = ran.filter((o) => o.kind === 'shared');
  const alone = isolated.length > 0 ? isolated : [];
  const aloneFailed = alone.filter(failed);
  if (aloneFailed.length > 0 && aloneFailed.length < alone.length)
    return {
      category: 'non-deterministic',
      reason: `alone in a fresh sandbox it failed ${aloneFailed.length} of ${alone.length} times (${runList(aloneFailed)})`,
    };
  const together = [...ordered, ...shared];
  if (alone.length > 0 && aloneFailed.length === alone.length) {
    const passedTogether = together.filter((o) => o.status === 'passed');
    if (passedTogether.length > 0)
      return {
        category: 'brittle',
        reason: `fails alone in every isolated run, but passed after other tests (${runList(passedTogether)})`,
      };
    return { category: 'stable-fail', reason: `failed in all ${ran.length} runs` };
  }
  if (alone.length === 0 && ran.every(failed))
    return { category: 'stable-fail', reason: `failed in all ${ran.length} runs` };
  const orderFailed = ordered.filter(failed);
  if (orderFailed.length > 0) {
    if (orderFailed.length === ordered.length && alone.length === 0)
      return { category: 'stable-fail', reason: `failed in every order` };
    return {
      category: 'order-dependent',
      reason: `passes alone${alone.length ? ` (${alone.length} isolated runs)` : ''}, failed after other tests in one sandbox (${runList(orderFailed)})`,
    };
  }
  const sharedFailed = shared.filter(failed);
  if (sharedFailed.length > 0)
    return {
      category: 'shared-state',
      reason: `passes in every isolated run and in every order in one sandbox; failed only on the shared host (${runList(sharedFailed)})`,
    };
  return { category: 'stable-pass', reason: `passed in all ${ran.length} runs` };
}
