import { describe, expect, test } from 'vitest';
import { SeedforkError } from '../errors/seedfork-error.js';
import { parseGoTestJson } from './go.js';
import { parseJestJson } from './jest.js';
import { parseMochaJson } from './mocha.js';
import { fullNamePattern } from './name-pattern.js';
import { parsePlaywrightJson } from './playwright.js';
import { parsePytestJUnit } from './pytest.js';
import { jsonComplete, junitComplete } from './report-formats.js';

describe('runner report parsers', () => {
  test('jest: describe titles, statuses, colour codes removed, a file that failed to load', () => {
    const report = parseJestJson(
      JSON.stringify({
        testResults: [
          {
            name: '/p/a.test.js',
            message: '',
            assertionResults: [
              { ancestorTitles: ['cart', 'totals'], title: 'adds', status: 'passed', duration: 3 },
              {
                ancestorTitles: [],
                title: 'fails',
                status: 'failed',
                duration: null,
                failureMessages: ['\u001b[31mError: boom\u001b[39m\n  at x'],
              },
              { ancestorTitles: ['cart'], title: 'later', status: 'todo' },
            ],
          },
          { name: '/p/b.test.js', message: 'SyntaxError: Unexpected token', assertionResults: [] },
        ],
      }),
    );
    expect(report.tests.map((t) => [t.name, t.status])).toEqual([
      ['cart > totals > adds', 'passed'],
      ['fails', 'failed'],
      ['cart > later', 'skipped'],
    ]);
    expect(report.tests[1]).toMatchObject({ message: 'Error: boom', durationMs: 0 });
    expect(report.error).toBe('SyntaxError: Unexpected token');
  });

  test('mocha: parent titles, pending and failed tests, hook failures as the error', () => {
    const t = (title: string, fullTitle: string, err = {}) => ({ title, fullTitle, duration: 2, err });
    const report = parseMochaJson(
      JSON.stringify({
        tests: [t('adds', 'cart adds'), t('fails', 'cart fails'), t('later', 'cart later'), t('top', 'top')],
        pending: [t('later', 'cart later')],
        failures: [
          t('fails', 'cart fails', { message: 'expected 1\nto be 2', stack: 'AssertionError: expected 1' }),
          t('"before all" hook', 'db "before all" hook', { message: 'no db' }),
        ],
      }),
    );
    expect(report.tests.map((x) => [x.name, x.status])).toEqual([
      ['cart > adds', 'passed'],
      ['cart > fails', 'failed'],
      ['cart > later', 'skipped'],
      ['top', 'passed'],
    ]);
    expect(report.tests[1]!.message).toBe('expected 1');
    expect(report.error).toMatch(/db "before all" hook: no db/);
  });

  test("playwright: nested describes, Playwright's own flaky outcome, project prefix with several projects", () => {
    const spec = (title: string, projectName: string, status: string, results: object[]) => ({
      title,
      tests: [{ projectName, status, results }],
    });
    const report = parsePlaywrightJson(
      JSON.stringify({
        suites: [
          {
            title: 'a.spec.ts',
            file: 'a.spec.ts',
            specs: [spec('top', 'chromium', 'expected', [{ status: 'passed', duration: 5 }])],
            suites: [
              {
                title: 'cart',
                specs: [
                  spec('retried', 'firefox', 'flaky', [
                    { status: 'failed', error: { message: '\u001b[2mTimeout\u001b[22m' } },
                    { status: 'passed', duration: 7 },
                  ]),
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(report.tests.map((x) => [x.name, x.status])).toEqual([
      ['[chromium] > top', 'passed'],
      ['[firefox] > cart > retried', 'flaky'],
    ]);
    expect(report.tests[1]!.flakyFailures).toEqual([{ message: 'Timeout' }]);
  });

  test('pytest: classes from the classname, parameters kept, numeric entities decoded', () => {
    const xml = `<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_db.TestUsers" name="test_add[x]" time="0.5"/>
<testcase classname="tests.test_db" name="test_plain" time="0.1"><failure message="assert 1&#10;where 1 = f()">trace</failure></testcase>
</testsuite></testsuites>`;
    const report = parsePytestJUnit(xml, ['tests/test_db.py']);
    expect(report.tests.map((x) => [x.name, x.status, x.message])).toEqual([
      ['TestUsers > test_add[x]', 'passed', undefined],
      ['test_plain', 'failed', 'assert 1'],
    ]);
  });

  test('go: subtests, skips, the failing output as details, a build failure as the error', () => {
    const ev = (o: object) => JSON.stringify({ Package: 'ex/ledger', ...o });
    const out = [
      ev({ Action: 'run', Test: 'TestA' }),
      ev({ Action: 'output', Test: 'TestA/sub', Output: '    a_test.go:9: wrong total\n' }),
      ev({ Action: 'fail', Test: 'TestA/sub', Elapsed: 0.01 }),
      ev({ Action: 'fail', Test: 'TestA', Elapsed: 0.02 }),
      ev({ Action: 'skip', Test: 'TestB', Elapsed: 0 }),
      ev({ Action: 'fail', Elapsed: 0.3 }),
    ].join('\n');
    const report = parseGoTestJson(out);
    expect(report.tests.map((x) => [x.name, x.status])).toEqual([
      ['TestA', 'failed'],
      ['TestA > sub', 'failed'],
      ['TestB', 'skipped'],
    ]);
    expect(report.tests[1]!.message).toBe('a_test.go:9: wrong total');
    const build = parseGoTestJson(
      `# ex/ledger\n./a.go:3: undefined: x\n${ev({ Action: 'fail', Elapsed: 0 })}`,
    );
    expect(build.tests).toEqual([]);
    expect(build.error).toMatch(/ex\/ledger failed outside any test:[\s\S]*undefined: x/);
  });

  test('malformed reports are SeedforkErrors naming the runner; incomplete ones are not complete', () => {
    expect(() => parseJestJson('{"testResults": ')).toThrow(SeedforkError);
    expect(() => parseJestJson('{}')).toThrow(/no testResults/);
    expect(() => parseMochaJson('nope')).toThrow(/malformed Mocha JSON/);
    expect(() => parsePlaywrightJson('[')).toThrow(/malformed Playwright JSON/);
    expect(jsonComplete('{"a": [1, 2')).toBe(false);
    expect(jsonComplete('{"a": [1, 2]}\n')).toBe(true);
    expect(junitComplete('<testsuites><testsuite>')).toBe(false);
    expect(junitComplete('<testsuites></testsuites>\n')).toBe(true);
  });

  test('full-name patterns match exactly the named tests, as jest -t and mocha --grep see them', () => {
    const re = new RegExp(fullNamePattern(['cart > adds (x+1)', 'top']));
    expect(re.test('cart adds (x+1)')).toBe(true);
    expect(re.test('top')).toBe(true);
    expect(re.test('cart adds (x+1) twice')).toBe(false);
    expect(re.test('stop')).toBe(false);
  });
});
