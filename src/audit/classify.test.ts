import { describe, expect, test } from 'vitest';
import type { FileResult } from '../report/types.js';
import { classify, FILE_CASE, observe } from './classify.js';
import type { AuditRun, Observation, RunKind } from './types.js';

/** Observations from a compact spec: kind letter (i/o/s/c) + outcome (P/F), e.g. 'iP iF oP'. */
function obs(spec: string): Observation[] {
  const kinds: Record<string, RunKind> = { i: 'isolated', o: 'order', s: 'shared', c: 'cold' };
  return spec.split(' ').map((x, n) => ({
    run: `${kinds[x[0]!]} ${n}`,
    kind: kinds[x[0]!]!,
    status: x[1] === 'P' ? 'passed' : x[1] === 'F' ? 'failed' : 'skipped',
  }));
}

describe('classify', () => {
  test.each([
    ['iP iP iP oP oP sP', 'stable-pass'],
    ['iF iF oF oF sF', 'stable-fail'],
    ['iP iF iP oP sP', 'non-deterministic'],
    ['iF iP iP oF sF', 'non-deterministic'],
    ['iP iP oF oP sF', 'order-dependent'],
    ['iP iP oP oP sF', 'shared-state'],
    ['iP iP oP oP sP sF', 'shared-state'],
    ['iF iF oP oF sP', 'brittle'],
    ['iF iF oF oF sP', 'brittle'],
    ['iS iS oS', 'skipped'],
    // the cold-cache run: the other outcome only there is cache-dependence, else it changes nothing
    ['iP iP oP sP cF', 'cache-dependent'],
    ['iF iF oF sF cP', 'cache-dependent'],
    ['iP iP oP sP cP', 'stable-pass'],
    ['iP iF oP sP cF', 'non-deterministic'],
    ['iP iP oF sP cF', 'order-dependent'],
    ['iS iS cP', 'stable-pass'],
    // without isolated runs the order runs stand in for them
    ['oF oP', 'order-dependent'],
    ['oF oF sF', 'stable-fail'],
  ])('%s is %s', (spec, category) => {
    expect(classify(obs(spec)).category).toBe(category);
  });

  test('the reason names the runs that failed', () => {
    expect(classify(obs('iP iF iP')).reason).toBe(
      'alone in a fresh sandbox it failed 1 of 3 times (isolated 1)',
    );
  });
});

describe('observe', () => {
  const file = (
    name: string,
    status: FileResult['status'],
    tests: [string, 'passed' | 'failed'][],
  ): FileResult => ({
    file: name,
    status,
    exitCode: status === 'passed' ? 0 : 1,
    durationMs: 1,
    setupMs: 0,
    tests: tests.map(([n, s]) => ({
      name: n,
      classname: name,
      status: s,
      durationMs: 1,
      ...(s === 'failed' ? { message: 'boom\nstack' } : {}),
    })),
    output: '',
    ...(status === 'error' ? { error: 'timed out after 10 ms' } : {}),
  });
  const run = (label: string, kind: RunKind, results: FileResult[]): AuditRun => ({
    label,
    kind,
    order: [],
    workers: 1,
    durationMs: 1,
    results,
  });

  test('matches cases across runs by file + name; a crashed file fails the cases it had elsewhere', () => {
    const seen = observe([
      run('a', 'isolated', [
        file('x.js', 'failed', [
          ['one', 'passed'],
          ['two', 'failed'],
        ]),
      ]),
      run('b', 'order', [file('x.js', 'error', [])]),
    ]);
    expect(
      [...seen.values()].map((t) => [
        t.ref.name,
        t.observations.map((o) => `${o.status}:${o.message ?? ''}`),
      ]),
    ).toEqual([
      ['one', ['passed:', 'failed:timed out after 10 ms']],
      ['two', ['failed:boom', 'failed:timed out after 10 ms']],
    ]);
  });

  test('a file whose runner reports no cases is one case, judged by the exit code', () => {
    const seen = observe([
      run('a', 'isolated', [file('y.sh', 'passed', [])]),
      run('b', 'order', [file('y.sh', 'failed', [])]),
    ]);
    const [only] = [...seen.values()];
    expect(only!.ref).toEqual({ file: 'y.sh', name: FILE_CASE });
    expect(only!.observations.map((o) => o.status)).toEqual(['passed', 'failed']);
  });
});
