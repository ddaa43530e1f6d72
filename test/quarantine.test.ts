import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

const suite = {
  'seedfork.config.mjs': `export default { test: { include: ['test/*.test.mjs'], runner: 'node' }, report: { junit: '.seedfork/junit.xml' }, history: { service: 'api' } };\n`,
  'test/a.test.mjs': `import test from 'node:test';
import assert from 'node:assert';
test('adds', () => assert.equal(1 + 1, 2));
test('flips', () => assert.equal(1, 2, 'flipped again'));
`,
};

/** A JUnit report of one build where test `x` passes or fails. */
function report(dir: string, build: number, failed: boolean): string {
  const path = join(dir, `build-${build}.xml`);
  writeFileSync(
    path,
    `<testsuite name="t.js"><testcase classname="t.js" name="x">${failed ? '<failure message="boom"/>' : ''}</testcase><testcase classname="t.js" name="y"/></testsuite>`,
  );
  return path;
}

describe('quarantine', () => {
  test('add, list, remove; --gate passes when every failure is quarantined; automatic quarantine and release', {
    timeout: 300_000,
  }, async () => {
    const dir = makeProject('quarantine-gate', { '.keep': '' });
    const job = (build: number, failed: boolean, more: string[] = []) =>
      runCli(dir, [
        'ingest',
        report(dir, build, failed),
        '--service',
        'web',
        '--build',
        String(build),
        '--commit',
        `c${build}`,
        ...more,
      ]);
    expect((await job(1, true, ['--gate'])).code).toBe(1);
    const added = await runCli(dir, [
      'quarantine',
      'add',
      't.js > x',
      '--reason',
      'TICKET-7',
      '--owner',
      'ana',
      '--service',
      'web',
      '--expires',
      '14d',
    ]);
    expect(added.code, added.out).toBe(0);
    const gate = await job(2, true, ['--gate']);
    expect(gate.code, gate.out).toBe(0);
    expect(gate.out).toMatch(/quarantined \(TICKET-7\): t.js > x/);
    expect(gate.out).toMatch(/every failure is quarantined: the gate passes/);
    // another service's failure of a test with that name is not covered
    expect(
      (await runCli(dir, ['ingest', report(dir, 3, true), '--service', 'other', '--build', '3', '--gate']))
        .code,
    ).toBe(1);
    const list = JSON.parse((await runCli(dir, ['quarantine', 'list', '--json'])).out) as {
      id: number;
      owner: string;
    }[];
    expect(list).toMatchObject([{ pattern: 't.js > x', service: 'web', owner: 'ana', source: 'manual' }]);
    expect((await runCli(dir, ['quarantine', 'remove', `#${list[0]!.id}`])).out).toMatch(/released 1/);
    expect((await runCli(dir, ['quarantine', 'remove', 't.js > x'])).code).toBe(2);
    expect((await job(4, true, ['--gate'])).code).toBe(1);
    expect((await runCli(dir, ['quarantine', 'add', 'x'])).out).toMatch(/--reason/);

    // automatic: a test flipping in a third of 12 builds (threshold 10% over 10 runs)...
    let auto = '';
    for (let b = 5; b <= 16; b++) auto += (await job(b, b % 3 === 0)).out;
    expect(auto).toMatch(/quarantined automatically: web: t.js > x/);
    expect((await job(17, true, ['--gate'])).code).toBe(0);
    // ...released after 10 clean runs in a row
    let clean = '';
    for (let b = 18; b <= 27; b++) clean += (await job(b, false)).out;
    expect(clean).toMatch(/released from quarantine: web: t.js > x/);
    expect(JSON.parse((await runCli(dir, ['quarantine', 'list', '--json'])).out)).toEqual([]);
  });
});

if (!isRoot) console.warn('skipping the quarantine test of seedfork run: sandboxes need root');

describe.skipIf(!isRoot)('quarantine in seedfork run', () => {
  test("a quarantined test's failure is reported as quarantined in console, JSON and JUnit, and does not fail the run; runs are recorded in the history", async () => {
    const before = hostState();
    const dir = makeProject('quarantine-run', suite);
    expect((await runCli(dir, ['run'])).code).toBe(1);
    expect((await runCli(dir, ['quarantine', 'add', 'flips', '--reason', 'TICKET-9'])).code).toBe(0);
    const run = await runCli(dir, ['run']);
    expect(run.code, run.out).toBe(0);
    expect(run.out).toMatch(/flips — quarantined: TICKET-9/);
    expect(run.out).toMatch(/the 1 failed test\(s\) are quarantined, so the build passes/);
    const result = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8')) as RunResult;
    const flips = result.files[0]!.tests.find((t) => t.name === 'flips');
    expect(flips).toMatchObject({ status: 'failed', quarantined: 'TICKET-9' });
    expect(result.files[0]!.tests.find((t) => t.name === 'adds')?.quarantined).toBeUndefined();
    expect(readFileSync(join(dir, '.seedfork/junit.xml'), 'utf8')).toMatch(
      /<testcase[^>]*name="flips"[\s\S]*?<property name="seedfork.quarantined" value="TICKET-9"\/>/,
    );
    // a test that is not quarantined still fails the run
    writeFileSync(
      join(dir, 'test/b.test.mjs'),
      "import test from 'node:test';\ntest('breaks', () => { throw new Error('no'); });\n",
    );
    expect((await runCli(dir, ['run'])).code).toBe(1);
    // with history.service configured, every run was recorded in the project's history
    const verdicts = JSON.parse((await runCli(dir, ['flaky', '--json', '--since', '1d'])).out) as {
      service: string;
      name: string;
      runs: number;
      status: string;
    }[];
    expect(verdicts.find((v) => v.name === 'flips')).toMatchObject({
      service: 'api',
      runs: 3,
      status: 'broken',
    });
    expect(verdicts.find((v) => v.name === 'adds')).toMatchObject({ runs: 3, status: 'healthy' });
    return expectHostClean(before);
  });
});
