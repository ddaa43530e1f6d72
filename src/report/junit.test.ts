import { describe, expect, test } from 'vitest';
import { readJUnit } from './junit-read.js';
import { writeJUnit } from './junit-write.js';
import { type FileResult, summarize } from './types.js';

const nodeTestXml = `<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="users" time="0.01" tests="2" failures="1" skipped="0">
    <testcase name="signs up" time="0.004" classname="test"/>
    <testcase name="rejects &quot;dupes&quot;" time="0.002" classname="test">
      <failure type="testCodeFailure" message="Expected values to be strictly equal:&#10;&#10;409 !== 201&#10;">
AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
    at TestContext.&lt;anonymous&gt; (file:///app/test/users.test.js:12:10)
      </failure>
    </testcase>
  </testsuite>
  <testcase name="top level" time="1.5" classname="test"><skipped type="skipped" message="later"/></testcase>
</testsuites>`;

describe('readJUnit', () => {
  test('reads node:test output: nested suites, failures, skips, seconds to ms', () => {
    const cases = readJUnit(nodeTestXml);
    expect(cases.map((c) => [c.name, c.status, c.durationMs])).toEqual([
      ['top level', 'skipped', 1500],
      ['users > signs up', 'passed', 4],
      ['users > rejects "dupes"', 'failed', 2],
    ]);
    expect(cases[2]?.message).toMatch(/^Expected values to be strictly equal/);
    expect(cases[2]?.details).toMatch(/users.test.js:12:10/);
  });

  test("names the cause of node:test's failed hook in the message", () => {
    const xml = `<testsuites><testcase name="a" classname="test"><failure type="hookFailed" message="failed running before hook">
[Error [ERR_TEST_FAILURE]: failed running before hook] {
  code: 'ERR_TEST_FAILURE',
  cause: Error: listen EADDRINUSE: address already in use 127.0.0.1:3001
      at TestContext.&lt;anonymous> (file:///t.mjs:2:26)
}</failure></testcase></testsuites>`;
    expect(readJUnit(xml)[0]!.message).toBe(
      'failed running before hook: Error: listen EADDRINUSE: address already in use 127.0.0.1:3001',
    );
  });

  test('drops the file-named suite Vitest adds', () => {
    const xml = `<testsuites name="vitest tests"><testsuite name="test/a.test.ts"><testcase classname="test/a.test.ts" name="math &gt; adds" time="0.001"/></testsuite></testsuites>`;
    expect(readJUnit(xml).map((c) => c.name)).toEqual(['math > adds']);
  });

  test('rejects malformed XML', () => {
    expect(() => readJUnit('<testsuites><testcase name="x"></testsuites>')).toThrow(/malformed JUnit XML/);
  });
});

describe('writeJUnit', () => {
  const files: FileResult[] = [
    {
      file: 'test/a.test.js',
      status: 'failed',
      exitCode: 1,
      durationMs: 120,
      setupMs: 80,
      sandboxId: 'abcd1234',
      output: '\u001b[31mred\u001b[39m output <&>',
      tests: [
        { name: 'ok', classname: 'test', status: 'passed', durationMs: 5 },
        {
          name: 'bad',
          classname: 'test',
          status: 'failed',
          durationMs: 7,
          message: 'boom <x>',
          details: 'stack',
        },
      ],
    },
    {
      file: 'test/b.test.js',
      status: 'error',
      exitCode: 124,
      durationMs: 1000,
      setupMs: 80,
      output: 'hung',
      tests: [],
      error: 'timed out',
    },
  ];
  const result = {
    version: 1 as const,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1500,
    isolation: 'namespace',
    per: 'file' as const,
    workers: 2,
    files,
    summary: summarize(files),
  };

  test('round-trips through readJUnit, with a synthetic case for a file that crashed', () => {
    const xml = writeJUnit(result);
    expect(xml).toMatch(
      /<testsuites name="seedfork" tests="3" failures="1" errors="1" skipped="0" time="1.500">/,
    );
    expect(xml.includes(String.fromCharCode(27))).toBe(false);
    const back = readJUnit(xml);
    expect(back.map((c) => [c.name, c.status])).toEqual([
      ['ok', 'passed'],
      ['bad', 'failed'],
      ['(file)', 'failed'],
    ]);
    expect(back[1]?.message).toBe('boom <x>');
    expect(back[2]?.message).toBe('timed out');
  });
});
