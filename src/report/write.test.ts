import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { writeJUnit } from './junit-write.js';
import type { FileResult, RunResult } from './types.js';
import { resultJsonChunks, writeIncompleteReports, writeReports } from './write.js';

const file = (name: string, status: FileResult['status']): FileResult => ({
  file: name,
  status,
  exitCode: status === 'passed' ? 0 : 1,
  durationMs: 12,
  setupMs: 3,
  sandboxId: undefined,
  tests: [{ name: 'a > "quoted"\n', classname: 'c', status: 'passed', durationMs: 1, message: undefined }],
  output: 'line\n\u001b[31mred',
});

const RESULT: RunResult = {
  version: 1,
  startedAt: '2026-12-05T00:00:00.000Z',
  durationMs: 100,
  isolation: 'namespace',
  per: 'file',
  workers: 2,
  runId: undefined,
  files: [file('a.test.js', 'passed'), file('b.test.js', 'failed')],
  summary: { files: 2, filesFailed: 1, filesFlaky: 0, tests: 2, passed: 2, failed: 0, skipped: 0, flaky: 0 },
};

describe('resultJsonChunks', () => {
  test("is JSON.stringify's text, in pieces, with and without files", () => {
    for (const r of [RESULT, { ...RESULT, files: [] }, { ...RESULT, files: [file('only.js', 'error')] }]) {
      const text = [...resultJsonChunks(r)].join('');
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(r)));
      // the same text as one stringify with `files` last
      const { files, ...rest } = r;
      expect(text).toBe(`${JSON.stringify({ ...rest, files }, null, 2)}\n`);
    }
  });
});

describe('writeReports', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('writes both reports, and when one cannot be written removes the previous ones and says so', () => {
    dir = mkdtempSync(join(tmpdir(), 'seedfork-write-'));
    const paths = { json: join(dir, 'results.json'), junit: join(dir, 'junit.xml') };
    writeReports(RESULT, paths);
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).files).toHaveLength(2);
    expect(readFileSync(paths.junit, 'utf8')).toBe(writeJUnit(RESULT));
    // the next run's JUnit XML cannot be written (its directory became a file)
    const blocked = { json: paths.json, junit: join(dir, 'blocked', 'junit.xml') };
    writeFileSync(join(dir, 'blocked'), 'not a directory');
    expect(() => writeReports({ ...RESULT, startedAt: 'later' }, blocked)).toThrow(
      /cannot write the run's reports \(.*results\.json, .*blocked\/junit\.xml\)/,
    );
    expect(existsSync(paths.json)).toBe(false); // not left looking like this run's
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  test('a run that broke off leaves its partial result marked incomplete, and no old JUnit XML', () => {
    dir = mkdtempSync(join(tmpdir(), 'seedfork-write-'));
    const paths = { json: join(dir, 'results.json'), junit: join(dir, 'out', 'junit.xml') };
    writeReports(RESULT, paths);
    writeIncompleteReports({ ...RESULT, files: [RESULT.files[0]!] }, paths, 'cancelled (Ctrl-C)');
    const partial = JSON.parse(readFileSync(paths.json, 'utf8')) as RunResult;
    expect(partial.incomplete).toBe('cancelled (Ctrl-C)');
    expect(partial.files).toHaveLength(1);
    expect(existsSync(paths.junit)).toBe(false);
    // one that broke off before any file finished leaves no result at all, old or new
    writeIncompleteReports({ ...RESULT, files: [] }, paths, 'the seed failed');
    expect(existsSync(paths.json)).toBe(false);
  });
});
