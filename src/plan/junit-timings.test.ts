import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { makeProject } from '../../test/support/project.js';
import { timingsFromJUnit } from './junit-timings.js';

const files = ['test/api.test.ts', 'test/db/users.test.ts', 'tests/test_api.py', 'src/app.spec.js'];
const dir = makeProject('junit-timings', Object.fromEntries(files.map((f) => [f, ''])));

function report(name: string, xml: string): string {
  const path = join(dir, name);
  writeFileSync(path, xml);
  return path;
}

test('attributes cases to files by suite name, file attribute, absolute path or module name', () => {
  const vitest = report(
    'vitest.xml',
    `<testsuites><testsuite name="test/api.test.ts"><testcase name="a" time="1.5"/><testcase name="b" time="0.5"/></testsuite>
     <testsuite name="users"><testcase name="c" time="0.25" file="/home/runner/work/app/test/db/users.test.ts"/></testsuite></testsuites>`,
  );
  const pytest = report(
    'pytest.xml',
    `<testsuites><testsuite name="pytest"><testcase classname="tests.test_api.TestTodos" name="test_list" time="3"/>
     <testcase classname="tests.test_api" name="test_create" time="1"/></testsuite></testsuites>`,
  );
  const jest = report(
    'jest.xml',
    `<testsuites><testsuite name="app" file="./src/app.spec.js"><testcase name="renders" time="0.1"/></testsuite>
     <testsuite name="other"><testcase classname="x" name="unknown" time="9"/></testsuite></testsuites>`,
  );
  const timings = timingsFromJUnit(dir, files, [vitest, pytest, jest]);
  expect(Object.fromEntries(timings)).toEqual({
    'test/api.test.ts': 2000,
    'test/db/users.test.ts': 250,
    'tests/test_api.py': 4000,
    'src/app.spec.js': 100,
  });
});

test('averages a file over several reports', () => {
  const one = report(
    'one.xml',
    '<testsuite name="test/api.test.ts"><testcase name="a" time="1"/></testsuite>',
  );
  const two = report(
    'two.xml',
    '<testsuite name="test/api.test.ts"><testcase name="a" time="3"/></testsuite>',
  );
  expect(timingsFromJUnit(dir, files, [one, two]).get('test/api.test.ts')).toBe(2000);
});

test('names the report that is malformed or missing', () => {
  const bad = report('bad.xml', '<testsuite><testcase name="a"');
  expect(() => timingsFromJUnit(dir, files, [bad])).toThrow(/bad\.xml: malformed JUnit XML/);
  expect(() => timingsFromJUnit(dir, files, [join(dir, 'nope.xml')])).toThrow(
    /cannot read the JUnit report .*nope\.xml/,
  );
});
