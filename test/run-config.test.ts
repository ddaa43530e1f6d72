import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli, startCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

const results = (dir: string): RunResult =>
  JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));

if (!isRoot) console.warn('skipping the run config tests: sandboxes need root (run the suite as root)');

describe('a missing runner', () => {
  test.each([
    ['jest', 'npm install --save-dev jest'],
    ['mocha', 'npm install --save-dev mocha'],
    ['playwright', 'npm install --save-dev @playwright/test'],
  ])('%s: a clear error with the install command, before anything is seeded', async (runner, install) => {
    // Outside the repository, so no node_modules above it has the runner.
    const dir = mkdtempSync(join(tmpdir(), 'seedfork-missing-'));
    try {
      writeFileSync(
        join(dir, 'seedfork.config.mjs'),
        `export default { test: { include: ['*.test.js'], runner: '${runner}' } };\n`,
      );
      writeFileSync(join(dir, 'a.test.js'), '');
      const r = await runCli(dir, ['run']);
      expect(r.code, r.out).toBe(2);
      expect(r.out).toContain(`hint: Install it: ${install}`);
      expect(existsSync(join(dir, '.seedfork'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot)('config a real suite needs', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('a runner that waits on a process that does not exit after its last result (mocha) is killed within test.exitGraceMs and reported with its process tree', async () => {
    const dir = makeProject('hung-runner', {
      'package.json': '{ "type": "commonjs" }\n',
      'seedfork.config.mjs':
        "export default { test: { include: ['*.test.js'], runner: 'mocha', timeoutMs: 120_000, exitGraceMs: 1500 } };\n",
      'hangs.test.js': "it('leaves a timer running', () => { setInterval(() => {}, 1000); });\n",
      'exits.test.js': "it('cleans up', () => {});\n",
    });
    const started = Date.now();
    const r = await runCli(dir, ['run']);
    const elapsed = Date.now() - started;
    expect(r.code, r.out).toBe(1);
    // Far below the 120 s per-file timeout: the grace period, plus start-up.
    expect(elapsed).toBeLessThan(60_000);
    const hung = results(dir).files.find((f) => f.file === 'hangs.test.js')!;
    expect(hung.status).toBe('error');
    expect(hung.tests).toMatchObject([{ name: 'leaves a timer running', status: 'passed' }]);
    expect(hung.error).toMatch(/did not exit 1500 ms after reporting its last result/);
    expect(hung.error).toMatch(/Processes still running:\n\s*\d+ \S*node .*mocha/);
    expect(hung.durationMs).toBeLessThan(hung.tests[0]!.durationMs + 30_000);
    expect(results(dir).files.find((f) => f.file === 'exits.test.js')!.status).toBe('passed');
    expect(r.out).toMatch(/did not exit/);
  });

  test('--verbose streams runner output as it comes, each line prefixed with its file', async () => {
    const dir = makeProject('streaming', {
      'seedfork.config.mjs':
        "export default { test: { include: ['*.sh'], runner: { command: 'sh {files}' } } };\n",
      'slow.sh': 'echo first line; sleep 4; echo second line\n',
    });
    const cli = startCli(dir, ['run', '--verbose']);
    const deadline = Date.now() + 30_000;
    while (!cli.output().includes('[slow.sh] first line') && Date.now() < deadline) await sleep(50);
    // The first line is out while the runner still sleeps before the second.
    expect(cli.output()).toContain('[slow.sh] first line');
    expect(cli.output()).not.toContain('second line');
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toMatch(/\[slow\.sh\] first line\n.*\[slow\.sh\] second line/);
    expect(results(dir).files[0]!.output).toBe('first line\nsecond line\n');
  });

  test('artifacts with the same relative path from two files are both kept', async () => {
    const writer = (name: string) =>
      `import { mkdirSync, writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('writes coverage', () => {\n  mkdirSync('coverage', { recursive: true });\n  writeFileSync('coverage/summary.json', JSON.stringify({ file: '${name}' }));\n});\n`;
    const dir = makeProject('artifacts', {
      'seedfork.config.mjs':
        "export default { test: { include: ['*.test.js'], artifacts: ['coverage/**'] }, report: { artifacts: 'out/artifacts' } };\n",
      'a.test.js': writer('a'),
      'b.test.js': writer('b'),
    });
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(0);
    for (const name of ['a', 'b']) {
      const path = join(dir, 'out/artifacts', `${name}.test.js`, 'coverage/summary.json');
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ file: name });
      expect(results(dir).files.find((f) => f.file === `${name}.test.js`)!.artifacts).toEqual([path]);
    }
    // Written inside the sandboxes only.
    expect(existsSync(join(dir, 'coverage'))).toBe(false);
  });

  test('service variables can be renamed or left out, and test.env false removes a variable', async () => {
    const dir = makeProject('service-env', {
      'seedfork.config.mjs': `export default {
  seed: { services: { db: { port: 5433, database: 'shop', exports: { DATABASE_URL: 'TEST_DATABASE_URL', PGUSER: false } } } },
  test: { include: ['*.test.js'], env: { PGHOST: false, SHOP_MODE: 'test' } },
};
`,
      'env.test.js': `import assert from 'node:assert/strict';
import { test } from 'node:test';
test('sees the renamed variables only', async () => {
  assert.equal(process.env.DATABASE_URL, undefined);
  assert.equal(process.env.PGUSER, undefined);
  assert.equal(process.env.PGHOST, undefined);
  assert.equal(process.env.TEST_DATABASE_URL, 'postgresql://postgres@127.0.0.1:5433/shop');
  assert.equal(process.env.DB_URL, 'postgresql://postgres@127.0.0.1:5433/shop');
  assert.equal(process.env.SHOP_MODE, 'test');
});
`,
    });
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(0);
    expect(results(dir).summary).toMatchObject({ tests: 1, passed: 1 });
  });
});
