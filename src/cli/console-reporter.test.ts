import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { expect, test } from 'vitest';
import type { TestCaseResult } from '../report/types.js';
import { consoleReporter } from './console-reporter.js';

/** What the reporter prints for one finished file, colours removed. */
function printed(tests: TestCaseResult[]): string {
  let out = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out += chunk;
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  const { onEvent, stop } = consoleReporter(stream, { live: false });
  onEvent({
    type: 'file-done',
    result: {
      file: 'test/a.test.ts',
      status: 'failed',
      exitCode: 1,
      durationMs: 5,
      setupMs: 0,
      tests,
      output: '',
    },
  });
  stop();
  return stripVTControlCharacters(out);
}

const failed = (n: number): TestCaseResult => ({
  name: `t${n}`,
  classname: '',
  status: 'failed',
  durationMs: 1,
  message: `Error: t${n} failed`,
  details: `Error: t${n} failed\n\nExpected: 2\nReceived: 1\n    at Object.<anonymous> (/app/test/a.test.ts:${n}:5)\n    at run (/app/node_modules/jest-circus/build/run.js:1:1)`,
});

test("a failed test's diff and the project's frames are printed under it, the runner's frames are not", () => {
  expect(printed([failed(1)]).split('\n')).toEqual([
    '✗ test/a.test.ts (1 test) 5 ms',
    '    ✗ t1 — Error: t1 failed',
    '        Expected: 2',
    '        Received: 1',
    '            at Object.<anonymous> (/app/test/a.test.ts:1:5)',
    '',
  ]);
});

test('past 10 failed tests in a file, the rest get their first line only', () => {
  const out = printed(Array.from({ length: 12 }, (_, i) => failed(i + 1)));
  expect(out.match(/Expected: 2/g)).toHaveLength(10);
  expect(out).toContain('    ✗ t12 — Error: t12 failed\n');
});
