import { describe, expect, test } from 'vitest';
import { readJUnit } from '../report/junit-read.js';
import { writeJUnit } from '../report/junit-write.js';
import { type FileResult, type RunResult, summarize } from '../report/types.js';
import { combineAttempts } from './retry.js';

function attempt(statuses: Record<string, 'passed' | 'failed'>, n: number): FileResult {
  const tests = Object.entries(statuses).map(([name, status]) => ({
    name,
    classname: 'f',
    status,
    durationMs: 1,
    ...(status === 'failed' ? { message: `${name} failed in attempt ${n}`, details: `stack ${n}` } : {}),
  }));
  const failed = tests.some((t) => t.status === 'failed');
  return {
    file: 'f.test.js',
    status: failed ? 'failed' : 'passed',
    exitCode: failed ? 1 : 0,
    durationMs: 10 * n,
    setupMs: 1,
    tests,
    output: `out ${n}`,
  };
}

const asRun = (f: FileResult): RunResult => ({
  version: 1,
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 1,
  isolation: 'namespace',
  per: 'file',
  workers: 1,
  files: [f],
  summary: summarize([f]),
});

describe('combineAttempts', () => {
  test('one attempt is returned as it is', () => {
    const only = attempt({ a: 'passed' }, 1);
    expect(combineAttempts([only])).toBe(only);
  });

  test('failed then passed: the file and the test are flaky, never plain passes', () => {
    const r = combineAttempts([
      attempt({ a: 'passed', b: 'failed' }, 1),
      attempt({ a: 'failed', b: 'failed' }, 2),
      attempt({ a: 'passed', b: 'passed' }, 3),
    ]);
    expect(r.status).toBe('flaky');
    expect(r.attempts).toBe(3);
    expect(r.tests.map((t) => [t.name, t.status])).toEqual([
      ['a', 'flaky'],
      ['b', 'flaky'],
    ]);
    expect(r.tests[1]!.flakyFailures!.map((f) => f.message)).toEqual([
      'b failed in attempt 1',
      'b failed in attempt 2',
    ]);
    expect(r.output).toMatch(/attempt 1 of 3 \(failed\)[\s\S]*attempt 3 of 3 \(passed\)/);
    expect(summarize([r])).toMatchObject({ filesFailed: 0, filesFlaky: 1, passed: 0, flaky: 2 });
  });

  test('failed in every attempt: the first failure stays, the later ones are rerun failures', () => {
    const r = combineAttempts([attempt({ a: 'failed' }, 1), attempt({ a: 'failed' }, 2)]);
    expect(r.status).toBe('failed');
    expect(r.tests[0]).toMatchObject({
      status: 'failed',
      message: 'a failed in attempt 1',
      rerunFailures: [{ message: 'a failed in attempt 2', details: 'stack 2' }],
    });
  });

  test('JUnit XML carries Surefire flakyFailure and rerunFailure, and reads back as flaky', () => {
    const flaky = combineAttempts([
      attempt({ a: 'failed', b: 'passed' }, 1),
      attempt({ a: 'passed', b: 'passed' }, 2),
    ]);
    const xml = writeJUnit(asRun(flaky));
    expect(xml).toMatch(
      /<testcase classname="f" name="a" time="0.001">\s*<flakyFailure message="a failed in attempt 1" type="AssertionError">\s*<stackTrace>stack 1<\/stackTrace>/,
    );
    expect(xml).toMatch(/failures="0"/);
    expect(readJUnit(xml).map((t) => t.status)).toEqual(['flaky', 'passed']);
    const failing = combineAttempts([attempt({ a: 'failed' }, 1), attempt({ a: 'failed' }, 2)]);
    expect(writeJUnit(asRun(failing))).toMatch(
      /<failure message="a failed in attempt 1"[^>]*>stack 1<\/failure>\s*<rerunFailure message="a failed in attempt 2" type="AssertionError">/,
    );
  });

  test("the combined result keeps every attempt's artifacts", () => {
    const first = { ...attempt({ a: 'failed' }, 1), artifacts: ['/art/f.test.js/shot.png'] };
    const second = { ...attempt({ a: 'passed' }, 2), artifacts: ['/art/f.test.js/attempt-2/shot.png'] };
    expect(combineAttempts([first, second]).artifacts).toEqual([
      '/art/f.test.js/shot.png',
      '/art/f.test.js/attempt-2/shot.png',
    ]);
    expect(
      combineAttempts([attempt({ a: 'failed' }, 1), attempt({ a: 'passed' }, 2)]).artifacts,
    ).toBeUndefined();
  });
});
