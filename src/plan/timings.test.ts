import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { makeProject } from '../../test/support/project.js';
import type { FileResult } from '../report/types.js';
import { estimateCosts, UNKNOWN_SETUP_MS, UNKNOWN_TEST_MS } from './cost.js';
import { assertSameSuite, emptyTimings, readTimings, recordTimings, writeTimings } from './timings.js';

function result(
  file: string,
  durationMs: number,
  status: FileResult['status'] = 'passed',
  setupMs = 60,
): FileResult {
  return {
    file,
    status,
    exitCode: status === 'passed' ? 0 : 1,
    durationMs,
    setupMs,
    tests: [{ name: `${file} works`, classname: file, status: 'passed', durationMs: durationMs / 2 }],
    output: '',
  };
}

describe('recordTimings', () => {
  test('records durations, setup and test cases, then smooths new samples', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const first = recordTimings(emptyTimings(), [result('a.js', 1000), result('b.js', 200)], {
      sandboxed: true,
      seedMs: 900,
      now,
    });
    expect(first.files['a.js']).toEqual({
      durationMs: 1000,
      setupMs: 60,
      samples: 1,
      updatedAt: now.toISOString(),
      tests: { 'a.js works': 500 },
    });
    expect(first.seedMs).toBe(900);
    const second = recordTimings(first, [result('a.js', 2000)], { sandboxed: true, now });
    expect(second.files['a.js']!.durationMs).toBe(1500);
    expect(second.files['a.js']!.samples).toBe(2);
    expect(second.files['b.js']!.durationMs).toBe(200);
    expect(second.seedMs).toBe(900);
  });

  test('ignores files that errored, and setup times of unsandboxed runs', () => {
    const base = recordTimings(emptyTimings(), [result('a.js', 1000)], { sandboxed: true });
    const next = recordTimings(base, [result('a.js', 9000, 'error'), result('b.js', 300, 'failed', 0)], {
      sandboxed: false,
    });
    expect(next.files['a.js']!.durationMs).toBe(1000);
    expect(next.files['b.js']!.durationMs).toBe(300);
    expect(next.files['b.js']!.setupMs).toBeUndefined();
  });

  test('drops files that no longer exist when asked', () => {
    const base = recordTimings(emptyTimings(), [result('gone.js', 10), result('kept.js', 10)], {
      sandboxed: true,
    });
    const next = recordTimings(base, [], { sandboxed: true, exists: (f) => f !== 'gone.js' });
    expect(Object.keys(next.files)).toEqual(['kept.js']);
  });
});

describe('reading timings', () => {
  const dir = makeProject('timings', {});
  test('a missing file is empty timings; a written one reads back', () => {
    const path = join(dir, 'none.json');
    expect(readTimings(path).files).toEqual({});
    const t = recordTimings(emptyTimings(), [result('a.js', 10)], { sandboxed: true });
    writeTimings(join(dir, 'ok.json'), t);
    expect(readTimings(join(dir, 'ok.json'))).toEqual(t);
  });

  test.each([
    ['not JSON', '{"version": 1, "files": {', /timings file .* is corrupt/],
    ['another format', '{"tests": []}', /is not a seedfork timings file/],
    [
      'negative durations',
      '{"version":1,"updatedAt":"x","files":{"a.js":{"durationMs":-5,"samples":1,"updatedAt":"x"}}}',
      /durationMs/,
    ],
  ])('refuses %s, saying to delete it', (_name, text, message) => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, text);
    expect(() => readTimings(path)).toThrow(message);
    try {
      readTimings(path);
    } catch (error) {
      expect((error as { hint: string }).hint).toMatch(/Delete .*bad\.json/);
    }
  });

  test('refuses timings of another suite but accepts partial overlap', () => {
    const t = recordTimings(emptyTimings(), [result('other/x.test.js', 10), result('other/y.test.js', 10)], {
      sandboxed: true,
    });
    expect(() => assertSameSuite(t, ['test/a.test.js'], 't.json')).toThrow(/from another suite/);
    expect(() => assertSameSuite(t, ['test/a.test.js', 'other/x.test.js'], 't.json')).not.toThrow();
    expect(() => assertSameSuite(emptyTimings(), ['test/a.test.js'], 't.json')).not.toThrow();
  });
});

describe('estimateCosts', () => {
  const dir = makeProject('costs', {
    'a.js': 'x'.repeat(10),
    'b.js': 'x'.repeat(500),
    'c.js': 'x',
    'd.js': 'x',
  });

  test('uses recorded timings, then JUnit, then the median of known files, never zero', () => {
    const timings = recordTimings(
      emptyTimings(),
      [result('a.js', 1000, 'passed', 40), result('c.js', 0, 'passed', 20)],
      {
        sandboxed: true,
      },
    );
    const costs = estimateCosts(dir, ['a.js', 'b.js', 'c.js', 'd.js'], timings, new Map([['d.js', 3000]]));
    const by = Object.fromEntries(costs.map((c) => [c.file, c]));
    expect(by['a.js']).toMatchObject({ ms: 1040, source: 'recorded' });
    expect(by['d.js']).toMatchObject({ testMs: 3000, setupMs: 30, source: 'junit' });
    // median of the known test times 0, 1000, 3000 = 1000; setup = median recorded setup (30)
    expect(by['b.js']).toMatchObject({ testMs: 1000, setupMs: 30, source: 'estimate', sizeBytes: 500 });
    expect(by['c.js']!.ms).toBeGreaterThan(0);
  });

  test('with nothing known, every file costs the same default and size breaks the ties', () => {
    const costs = estimateCosts(dir, ['a.js', 'b.js'], emptyTimings());
    expect(costs.map((c) => c.ms)).toEqual([
      UNKNOWN_TEST_MS + UNKNOWN_SETUP_MS,
      UNKNOWN_TEST_MS + UNKNOWN_SETUP_MS,
    ]);
    expect(costs.map((c) => c.sizeBytes)).toEqual([10, 500]);
  });
});
