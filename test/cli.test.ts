import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readJUnit } from '../src/report/junit-read.js';
import { runCli } from './support/cli.js';
import { compileCacheUnder, filesWithTimes, hasCompileCache } from './support/compile-cache.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { CLI, makeProject, REPO } from './support/project.js';

const seedfork = runCli;

const passing = `import { test } from 'node:test';\ntest('adds', () => { if (1 + 1 !== 2) throw new Error('math'); });\n`;
const slow = `import { test } from 'node:test';\ntest('slow', async () => { await new Promise((r) => setTimeout(r, 60_000)); });\n`;
const failing = `import { test } from 'node:test';\nimport assert from 'node:assert';\ntest('is wrong', () => { assert.equal(1, 2); });\n`;

describe('config and input errors', () => {
  test('an unknown config key is named, with the fix', async () => {
    const dir = makeProject('unknown-key', {
      'seedfork.config.json': JSON.stringify({ test: { include: ['*.test.js'], inclde: ['x'] }, wrokers: 2 }),
    });
    const r = await seedfork(dir, ['run']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/unknown key 'wrokers'/);
    expect(r.out).toMatch(/test: unknown key 'inclde'/);
  });

  test('a missing config says which files it looked for', async () => {
    const r = await seedfork(makeProject('no-config', { 'a.txt': '' }), ['run']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/no seedfork config/);
    expect(r.out).toMatch(/seedfork.config.ts/);
  });

  test('an include that matches nothing is an error, not an empty pass', async () => {
    const dir = makeProject('no-match', {
      'seedfork.config.mjs': `export default { test: { include: ['spec/**/*.test.js'] } };\n`,
    });
    const r = await seedfork(dir, ['run']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/no test files matched test.include \["spec\/\*\*\/\*.test.js"\]/);
  });

  test('invalid flags are rejected by the parser', async () => {
    const r = await seedfork(makeProject('flags', { 'x.test.js': passing }), ['run', '--workers', 'zero']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/expected a positive whole number/);
  });
});

describe('start-up', () => {
  test("the CLI's modules go to seedfork's compile cache where Node has one, and are read from it; none with NODE_DISABLE_COMPILE_CACHE=1", async () => {
    const dir = makeProject('compile-cache', { 'x.test.js': passing });
    const caches = join(REPO, 'test-output', `cli-compile-cache-${process.pid}`);
    rmSync(caches, { recursive: true, force: true });
    const on = join(caches, 'on');
    const off = join(caches, 'off');
    // a run that loads the config and its modules, then stops: no test file matches
    const args = ['run', 'no-such-file'];
    expect((await seedfork(dir, args, { XDG_CACHE_HOME: on })).code).toBe(2);
    const written = filesWithTimes(compileCacheUnder(on));
    expect((await seedfork(dir, args, { XDG_CACHE_HOME: on })).code).toBe(2);
    expect(filesWithTimes(compileCacheUnder(on))).toEqual(written); // every module found there
    expect((await seedfork(dir, args, { XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' })).code).toBe(
      2,
    );
    expect(existsSync(off)).toBe(false);
    if (hasCompileCache) expect(Object.keys(written).length).toBeGreaterThan(100);
    else {
      console.warn(`Node ${process.version} has no module compile cache (Node >= 22.1 has): none is written`);
      expect(existsSync(on)).toBe(false);
    }
    rmSync(caches, { recursive: true, force: true });
  });
});

describe.skipIf(!isRoot)('seedfork run (sandboxed)', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('passing and failing files: exit code, JUnit XML and JSON results', async () => {
    const dir = makeProject('mixed', {
      'seedfork.config.ts': `export default { test: { include: ['test/*.test.js'], runner: 'node' } } as const;\n`,
      'test/ok.test.js': passing,
      'test/bad.test.js': failing,
    });
    const r = await seedfork(dir, ['run', '--junit', 'out/junit.xml', '--workers', '2']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ test\/bad.test.js/);
    expect(r.out).toMatch(/✓ test\/ok.test.js/);
    const cases = readJUnit(readFileSync(join(dir, 'out/junit.xml'), 'utf8'));
    expect(cases.map((c) => [c.name, c.status]).sort()).toEqual([
      ['adds', 'passed'],
      ['is wrong', 'failed'],
    ]);
    const json = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(json.summary).toMatchObject({ files: 2, filesFailed: 1, tests: 2, passed: 1, failed: 1 });
    await expectHostClean(before);
  });

  test('the generic command adapter and per-worker sandboxes', async () => {
    const dir = makeProject('command', {
      'seedfork.config.js': `export default { per: 'shard', workers: 2, test: { include: ['t/*.sh'], runner: { command: 'for f in {files}; do sh $f || exit 1; done' } } };\n`,
      't/a.sh': 'echo a > /tmp/marker',
      't/b.sh': 'test ! -e /tmp/other || exit 5; echo b > /tmp/other',
      't/c.sh': 'exit 0',
    });
    const r = await seedfork(dir, ['run']);
    expect(r.out).toMatch(/one sandbox per worker/);
    expect(r.code).toBe(0);
  });

  test('the vitest adapter reads the JUnit report of Vitest', async () => {
    const dir = makeProject('vitest', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.mjs'], runner: 'vitest' } };\n`,
      'vitest.config.mjs': `export default { test: {} };\n`,
      'math.test.mjs': `import { describe, expect, test } from 'vitest';\ndescribe('math', () => {\n  test('adds', () => expect(1 + 1).toBe(2));\n  test('fails', () => expect(1 + 1).toBe(3));\n});\n`,
    });
    const r = await seedfork(dir, ['run', '--junit', 'junit.xml']);
    expect(r.code, r.out).toBe(1);
    const cases = readJUnit(readFileSync(join(dir, 'junit.xml'), 'utf8'));
    expect(cases.map((c) => [c.name, c.status])).toEqual([
      ['math > adds', 'passed'],
      ['math > fails', 'failed'],
    ]);
    await expectHostClean(before);
  });

  test('a project on another filesystem than / is layered too', async () => {
    const mountpoint = join(REPO, 'test-output', 'otherfs');
    mkdirSync(mountpoint, { recursive: true });
    expect(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', mountpoint]).status).toBe(0);
    try {
      const dir = join(mountpoint, 'project');
      mkdirSync(join(dir, 'test'), { recursive: true });
      writeFileSync(
        join(dir, 'seedfork.config.mjs'),
        `export default { seed: { steps: ['echo seeded > seeded.txt'] }, test: { include: ['test/*.test.js'] } };\n`,
      );
      const body = `import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { readFileSync, writeFileSync, existsSync } from 'node:fs';\ntest('isolated', () => {\n  assert.equal(readFileSync('seeded.txt', 'utf8'), 'seeded\\n');\n  assert.equal(existsSync('mine.txt'), false);\n  writeFileSync('mine.txt', 'x');\n});\n`;
      writeFileSync(join(dir, 'test/a.test.js'), body);
      writeFileSync(join(dir, 'test/b.test.js'), body);
      const r = await seedfork(dir, ['run']);
      expect(r.code, r.out).toBe(0);
      expect(existsSync(join(dir, 'seeded.txt'))).toBe(false);
      expect(existsSync(join(dir, 'mine.txt'))).toBe(false);
      await expectHostClean(before);
    } finally {
      spawnSync('umount', [mountpoint]);
    }
  });

  test('a file that runs past test.timeoutMs is an error, and the run goes on', async () => {
    const dir = makeProject('timeout', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'], timeoutMs: 1500 } };\n`,
      'hang.test.js': `import { test } from 'node:test';\ntest('hangs', async () => { await new Promise((r) => setTimeout(r, 60_000)); });\n`,
      'ok.test.js': passing,
    });
    const r = await seedfork(dir, ['run']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ hang.test.js \(0 tests; timed out after 1500 ms \(test.timeoutMs\)/);
    expect(r.out).toMatch(/✓ ok.test.js/);
    await expectHostClean(before);
  });

  test('a test command that is not found stops the run with a clear error', async () => {
    const dir = makeProject('notfound', {
      'seedfork.config.json': JSON.stringify({
        test: { include: ['*.test.js'], runner: { command: 'no-such-runner-xyz {files}' } },
      }),
      'a.test.js': passing,
    });
    const r = await seedfork(dir, ['run']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/the test command was not found/);
    expect(r.out).toMatch(/no-such-runner-xyz: not found/);
    await expectHostClean(before);
  });

  test('a project under /tmp runs, and the rest of /tmp stays private', async () => {
    const dir = `/tmp/seedfork-tmp-project-${process.pid}`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'test'), { recursive: true });
    writeFileSync('/tmp/seedfork-host-marker', 'host');
    try {
      writeFileSync(
        join(dir, 'seedfork.config.mjs'),
        `export default { seed: { steps: ['echo seeded > seeded.txt'] }, test: { include: ['test/*.test.js'] } };\n`,
      );
      writeFileSync(
        join(dir, 'test/a.test.js'),
        `import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { readdirSync, readFileSync, writeFileSync } from 'node:fs';\n` +
          `test('sees its project, not the host /tmp', () => {\n  assert.equal(readFileSync('seeded.txt', 'utf8'), 'seeded\\n');\n` +
          `  assert.deepEqual(readdirSync('/tmp').filter((f) => !f.startsWith('.')), ['${dir.slice(5)}']);\n  writeFileSync('/tmp/from-sandbox', 'x');\n});\n`,
      );
      const r = await seedfork(dir, ['run']);
      expect(r.code, r.out).toBe(0);
      expect(existsSync(join(dir, 'seeded.txt'))).toBe(false);
      expect(existsSync('/tmp/from-sandbox')).toBe(false);
      await expectHostClean(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync('/tmp/seedfork-host-marker', { force: true });
    }
  });

  test('--keep-failed keeps the failed sandbox for `seedfork shell`; gc removes it', async () => {
    const dir = makeProject('keep', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'] } };\n`,
      'bad.test.js': `import { test } from 'node:test';\nimport { writeFileSync } from 'node:fs';\ntest('leaves evidence', () => { writeFileSync('/tmp/evidence', 'state at failure'); throw new Error('boom'); });\n`,
    });
    const r = await seedfork(dir, ['run', '--keep-failed']);
    expect(r.code).toBe(1);
    const id = /seedfork shell ([0-9a-f]{8})/.exec(r.out)?.[1];
    expect(id).toBeDefined();
    const shell = await seedfork(dir, ['shell', id!, 'cat', '/tmp/evidence']);
    expect(shell.out).toBe('state at failure');
    expect(shell.code).toBe(0);
    // every argument after the id is the command's, options like -c included
    const script = await seedfork(dir, [
      'shell',
      id!,
      'sh',
      '-c',
      'echo "$1 from $0"; exit 3',
      'sandbox',
      '--config',
    ]);
    expect(script.out).toBe('--config from sandbox\n');
    expect(script.code).toBe(3);
    expect((await seedfork(dir, ['list'])).out).toMatch(new RegExp(`${id}\\s+kept`));
    const gc = await seedfork(dir, ['gc']);
    expect(gc.out).toMatch(/removed 1 sandbox/);
    expect((await seedfork(dir, ['shell', id!, 'true'])).code).toBe(2);
    await expectHostClean(before);
  });

  test('Ctrl-C mid-run stops the tests and removes every sandbox', async () => {
    const dir = makeProject('sigint', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'] } };\n`,
      'a.test.js': slow,
      'b.test.js': slow,
    });
    const child: ChildProcess = spawn(process.execPath, [CLI, 'run'], {
      cwd: dir,
      env: { ...process.env, CI: 'true' },
    });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    // Wait until both sandboxes run tests.
    await waitForNewHelpers(before, 4);
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(130);
    expect(out).toMatch(/cancelled; every sandbox was removed/);
    await expectHostClean(before);
    expect(
      existsSync(join(dir, '.seedfork/sandboxes')) ? readdirCount(join(dir, '.seedfork/sandboxes')) : 0,
    ).toBe(0);
  });

  test('Ctrl-C while seeding cancels the seed: nothing cached, nothing left', async () => {
    const dir = makeProject('sigint-seed', {
      'seedfork.config.mjs': `export default { seed: { steps: ['sleep 60'] }, test: { include: ['*.test.js'] } };\n`,
      'a.test.js': passing,
    });
    const child = spawn(process.execPath, [CLI, 'run'], {
      cwd: dir,
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    });
    let out = '';
    const started = new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        out += d;
        if (out.includes('seed: step 1/1')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
    });
    await started;
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code, out).toBe(130);
    expect(out).toMatch(/cancelled; every sandbox was removed/);
    expect(readdirCount(join(dir, '.seedfork/snapshots'))).toBe(0);
    await expectHostClean(before);
  });

  test('SIGKILL of seedfork: the helpers end the sandboxes, the next run reaps the rest', async () => {
    const dir = makeProject('sigkill', {
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'] } };\n`,
      'a.test.js': slow,
    });
    const child = spawn(process.execPath, [CLI, 'run'], { cwd: dir, stdio: 'ignore' });
    await waitForNewHelpers(before, 2);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await expectHostClean({ ...before, cgroups: hostState().cgroups }); // processes, mounts, netns: gone at once
    const gc = await seedfork(dir, ['gc']);
    expect(gc.out).toMatch(/removed 1 sandbox/);
    await expectHostClean(before);
    rmSync(dir, { recursive: true, force: true });
  });
});

/** Wait (up to 30 s) until at least `n` sandbox helper processes exist that `before` did not have. */
async function waitForNewHelpers(before: HostState, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (hostState().helpers.filter((h) => !before.helpers.includes(h)).length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readdirCount(dir: string): number {
  return spawnSync('ls', ['-A', dir], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
}
