import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readJUnit } from '../src/report/junit-read.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

const seedfork = runCli;

// Fails while fewer than `n` attempts have left a marker in the project (shared host, no sandbox).
const failsFirst = (n: number) => `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
test('steady', () => {});
test('settles down', async () => {
  appendFileSync('attempts.log', 'x');
  const seen = readFileSync('attempts.log', 'utf8').length;
  if (seen <= ${n}) throw new Error('not yet: attempt ' + seen);
});
`;

describe('--retries', () => {
  test('a file that passes on a retry is flaky in the console, JSON and JUnit, and exits 0', async () => {
    const dir = makeProject('retries-flaky', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'] }, isolation: 'none' };\n`,
      'a.test.js': failsFirst(2),
    });
    const r = await seedfork(dir, ['run', '--retries', '3', '--junit', 'junit.xml']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/↻ a\.test\.js: failed, retrying in a fresh fork \(attempt 2\)/);
    expect(r.out).toMatch(/⚠ a\.test\.js .*flaky: failed, then passed on attempt 3/);
    expect(r.out).toMatch(/1 passed, 0 failed, 0 skipped, 1 flaky/);
    const json = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(json.files[0]).toMatchObject({ status: 'flaky', attempts: 3 });
    expect(json.summary).toMatchObject({ filesFailed: 0, filesFlaky: 1, flaky: 1, passed: 1 });
    const xml = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(xml.match(/<flakyFailure /g)).toHaveLength(2);
    expect(readJUnit(xml).map((t) => [t.name, t.status])).toEqual([
      ['steady', 'passed'],
      ['settles down', 'flaky'],
    ]);
  });

  test('a file that fails every attempt fails, with rerun failures', async () => {
    const dir = makeProject('retries-fail', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'] }, isolation: 'none', retries: 1 };\n`,
      'a.test.js': failsFirst(5),
    });
    const r = await seedfork(dir, ['run', '--junit', 'junit.xml']);
    expect(r.code, r.out).toBe(1);
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toMatch(
      /<failure message="not yet: attempt 1"[\s\S]*<rerunFailure message="not yet: attempt 2"/,
    );
  });
});

describe.skipIf(!isRoot)('--retries in sandboxes', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('every retry runs in a fresh fork', async () => {
    const dir = makeProject('retries-fresh', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'] } };\n`,
      'a.test.js': `import { existsSync, writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('sees a clean /tmp', () => {\n  console.log('sandbox=' + process.env.SEEDFORK_SANDBOX_ID + ' dirty=' + existsSync('/tmp/left-by-attempt'));\n  writeFileSync('/tmp/left-by-attempt', '');\n  throw new Error('always');\n});\n`,
    });
    const r = await seedfork(dir, ['run', '--retries', '2']);
    expect(r.code, r.out).toBe(1);
    const output = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8')).files[0]
      .output as string;
    const ids = [...output.matchAll(/sandbox=(\w+) dirty=(\w+)/g)];
    expect(ids).toHaveLength(3);
    expect(new Set(ids.map((m) => m[1])).size).toBe(3);
    expect(ids.every((m) => m[2] === 'false')).toBe(true);
  });
});
