import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { cliEnv, runCli } from './support/cli.js';
import { runCommand } from './support/command.js';
import { compileCacheUnder, filesWithTimes, hasCompileCache } from './support/compile-cache.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { CLI, REPO } from './support/project.js';
import { runnerJsonStatuses } from './support/runner-json.js';

if (!isRoot) console.warn('skipping the Jest runner integration test: sandboxes need root');

/** Jest's CLI in `dir` on 2 workers, writing its JSON results to `outputFile`; with the
 * seedfork runner unless the project's config names one. */
function jest(
  dir: string,
  outputFile: string,
  options: { runner?: boolean; env?: Record<string, string> } = {},
) {
  return runCommand(
    process.execPath,
    [
      join(REPO, 'node_modules/jest/bin/jest.js'),
      '--ci',
      '-w',
      '2',
      ...(options.runner === false ? [] : [`--runner=${join(REPO, 'dist/integrations/jest/runner.js')}`]),
      '--json',
      `--outputFile=${outputFile}`,
    ],
    {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules', ...options.env },
    },
  );
}

/** A test file that never ends and one that allocates memory until a limit stops it. */
function writeHostileFiles(dir: string): void {
  writeFileSync(
    join(dir, 'test/hangs.test.js'),
    "test('never ends', () => new Promise(() => { setInterval(() => {}, 1000); }), 60_000);\n",
  );
  writeFileSync(
    join(dir, 'test/hog.test.js'),
    "test('allocates past the limit', () => { const keep = []; for (;;) keep.push(Buffer.alloc(16 * 1024 * 1024, 1)); });\n",
  );
}

/** A copy of the Jest fixture project under test-output, named `name`, none left from before. */
function jestProject(name: string): string {
  const dir = join(REPO, 'test-output', 'projects', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(REPO, 'test/fixtures/runners/jest'), dir, { recursive: true });
  return dir;
}

/** {@link jestProject} with `files` (path → text) added, and a seedfork config that runs exactly
 * them with Jest. */
function jestProjectRunning(name: string, files: Record<string, string>): string {
  const dir = jestProject(name);
  const include = JSON.stringify(Object.keys(files));
  writeFileSync(
    join(dir, 'seedfork.config.mjs'),
    `export default { test: { include: ${include}, runner: 'jest' } };\n`,
  );
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

describe.skipIf(!isRoot)('seedfork/jest, the Jest runner', () => {
  test("jest with runner seedfork/jest gives the per-test results of seedfork run, which falls back to Jest's own runner", async () => {
    const before = hostState();
    const dir = jestProject('jest-runner');
    // the runner in the project's own Jest config: `seedfork run` (inside a sandbox already)
    // must fall back to Jest's own runner, and plain `jest` gets sandboxes
    writeFileSync(
      join(dir, 'jest.config.mjs'),
      `export default { testEnvironment: 'node', transform: {}, testMatch: ['**/test/**/*.test.js'], runner: ${JSON.stringify(join(REPO, 'dist/integrations/jest/runner.js'))} };\n`,
    );

    // one worker on a machine with more CPUs: the module map is built in a thread of its own
    // while the zygote loads Jest (file-workers.ts), the path a run with a core to spare takes
    const sandboxed = await runCli(dir, ['run', '--workers', '1']);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    const expected = Object.fromEntries(result.files.flatMap((f) => f.tests.map((t) => [t.name, t.status])));
    expect(Object.keys(expected).length, sandboxed.out).toBeGreaterThan(3);

    const plain = await jest(dir, 'jest.json', { runner: false });
    expect(plain.code, plain.stderr).toBe(1); // the fixture has a failing test
    expect(runnerJsonStatuses(join(dir, 'jest.json'))).toEqual(expected);
    // that jest process took a seedfork run lock: it made the sandboxes itself
    expect(readdirSync(join(dir, '.seedfork/runs')).some((f) => f.startsWith(`${plain.pid}-`))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test("a file whose worker is killed, hangs or fills the sandbox's memory fails with the reason; the others pass and the host is clean", async () => {
    const before = hostState();
    const dir = jestProject('jest-runner-hostile');
    rmSync(join(dir, 'test/ledger.test.js'));
    writeFileSync(
      join(dir, 'seedfork.config.mjs'),
      "export default { test: { include: ['test/**/*.test.js'], runner: 'jest', timeoutMs: 4000 }, limits: { memory: '256MiB' } };\n",
    );
    writeFileSync(
      join(dir, 'test/killed.test.js'),
      "test('kills its worker', () => { process.kill(process.pid, 'SIGKILL'); });\n",
    );
    writeHostileFiles(dir);
    const hostile = await jest(dir, 'jest.json');
    expect(hostile.code, hostile.stderr).toBe(1);
    const doc = JSON.parse(readFileSync(join(dir, 'jest.json'), 'utf8')) as {
      testResults: { name: string; status: string; message: string }[];
    };
    const byFile = Object.fromEntries(doc.testResults.map((r) => [r.name.split('/').pop(), r]));
    expect(byFile['audit-log.test.js']?.status).toBe('passed');
    expect(byFile['killed.test.js']?.message).toMatch(
      /worker in sandbox \w+ stopped with no result: was killed by SIGKILL/,
    );
    expect(byFile['hangs.test.js']?.message).toMatch(/stopped with no result: timed out after 4000 ms/);
    expect(byFile['hog.test.js']?.message).toMatch(
      /the memory limit \(limits.memory = 256 MiB\) was reached/,
    );
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test('the worker zygote runs no file of the project on the host, gives each fork its own random state and the results of fresh workers', async () => {
    const before = hostState();
    const dir = jestProject('jest-runner-zygote');
    const marker = `/tmp/seedfork-jest-setup-${process.pid}`;
    rmSync(marker, { force: true });
    // a setup file runs with every test file: in a sandbox, where /tmp is the sandbox's own
    writeFileSync(
      join(dir, 'setup.js'),
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\n`,
    );
    writeFileSync(
      join(dir, 'jest.config.mjs'),
      "export default { testEnvironment: 'node', transform: {}, testMatch: ['**/test/**/*.test.js'], setupFiles: ['<rootDir>/setup.js'] };\n",
    );
    for (const n of [1, 2]) {
      writeFileSync(
        join(dir, `test/random${n}.test.js`),
        "test('draws', () => { expect('random ' + Math.random()).toBe('none'); });\n",
      );
    }
    const runJest = async (zygote: boolean) => {
      const out = `${zygote ? 'zygote' : 'fresh'}.json`;
      const r = await jest(dir, out, { env: { SEEDFORK_ZYGOTE: zygote ? '1' : '0' } });
      expect(r.code, r.stderr).toBe(1);
      return join(dir, out);
    };
    const forked = await runJest(true);
    expect(existsSync(marker)).toBe(false);
    expect(runnerJsonStatuses(forked)).toEqual(runnerJsonStatuses(await runJest(false)));
    const drawn = (
      JSON.parse(readFileSync(forked, 'utf8')) as { testResults: { message: string }[] }
    ).testResults
      .map((r) => /random (0\.\d+)/.exec(r.message)?.[1])
      .filter(Boolean);
    expect(drawn).toHaveLength(2);
    expect(drawn[0]).not.toBe(drawn[1]);
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test("the worker zygote loads Jest from seedfork's compile cache where Node has one, writes none when NODE_DISABLE_COMPILE_CACHE=1, and the results do not change", async () => {
    const before = hostState();
    const dir = jestProject('jest-runner-compile-cache');
    const caches = join(REPO, 'test-output', `compile-cache-${process.pid}`);
    rmSync(caches, { recursive: true, force: true });
    const on = join(caches, 'on');
    const off = join(caches, 'off');
    const runJest = async (out: string, env: Record<string, string>) => {
      const r = await jest(dir, out, { env });
      expect(r.code, r.stderr).toBe(1); // the fixture has a failing test
      return runnerJsonStatuses(join(dir, out));
    };
    const cold = await runJest('cold.json', { XDG_CACHE_HOME: on });
    // plain Jest turns on no compile cache: what is there, the zygote wrote
    const written = filesWithTimes(compileCacheUnder(on));
    expect(await runJest('warm.json', { XDG_CACHE_HOME: on })).toEqual(cold);
    // a warm zygote finds every module's code there: nothing is compiled or written again
    expect(filesWithTimes(compileCacheUnder(on))).toEqual(written);
    expect(await runJest('off.json', { XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' })).toEqual(cold);
    expect(existsSync(off)).toBe(false);
    if (hasCompileCache) {
      expect(Object.keys(written).length).toBeGreaterThan(40); // Jest's modules
    } else {
      console.warn(`Node ${process.version} has no module compile cache (Node >= 22.1 has): none is written`);
      expect(existsSync(on)).toBe(false);
    }
    rmSync(caches, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test('the worker zygote starts before seedfork reads its config: replaced when test.env changes its environment, ended when the config is broken', async () => {
    const before = hostState();
    const dir = jestProject('jest-runner-head-start');
    // a test environment of the project: the zygote loads it, so what it read of the environment
    // when it was loaded is what every fork has
    writeFileSync(
      join(dir, 'probe-environment.cjs'),
      `const { TestEnvironment } = require('jest-environment-node');
const atLoad = process.env.ZYGOTE_PROBE ?? 'unset';
module.exports = class extends TestEnvironment {
  constructor(config, context) { super(config, context); this.global.probeAtLoad = atLoad; }
};
`,
    );
    writeFileSync(
      join(dir, 'jest.config.mjs'),
      "export default { testEnvironment: '<rootDir>/probe-environment.cjs', transform: {}, testMatch: ['**/test/**/*.test.js'] };\n",
    );
    writeFileSync(
      join(dir, 'test/probe.test.js'),
      "test('the zygote had the config’s environment', () => { expect(globalThis.probeAtLoad).toBe('from-config'); expect(process.env.ZYGOTE_PROBE).toBe('from-config'); });\n",
    );
    writeFileSync(
      join(dir, 'seedfork.config.mjs'),
      "export default { test: { include: ['test/**/*.test.js'], runner: 'jest', timeoutMs: 60_000, env: { ZYGOTE_PROBE: 'from-config' } } };\n",
    );
    const ok = await jest(dir, 'probe.json');
    expect(runnerJsonStatuses(join(dir, 'probe.json')), ok.stderr).toMatchObject({
      'the zygote had the config’s environment': 'passed',
    });
    writeFileSync(
      join(dir, 'seedfork.config.mjs'),
      "export default { test: { runner: 'no-such-runner' } };\n",
    );
    const broken = await jest(dir, 'broken.json');
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/invalid config in .*seedfork\.config\.mjs/);
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test("seedfork run runs Jest's files through forks of the worker zygote, with the results, retries and limits of Jest's CLI", async () => {
    const before = hostState();
    const dir = jestProject('jest-run-zygote');
    writeFileSync(
      join(dir, 'seedfork.config.mjs'),
      "export default { test: { include: ['test/**/*.test.js'], runner: 'jest', timeoutMs: 3000 }, limits: { memory: '256MiB' } };\n",
    );
    writeHostileFiles(dir);
    // with more than one core the module map is built in a thread of seedfork's while the
    // zygote loads Jest; on one (taskset) the zygote builds it
    const outcome = async (zygote: boolean, oneCore = false) => {
      const json = `${zygote ? 'zygote' : 'cli'}${oneCore ? '-one-core' : ''}.json`;
      const args = ['run', '--retries', '1', '--json', json];
      const env = { SEEDFORK_ZYGOTE: zygote ? '1' : '0' };
      const r = oneCore
        ? await runCommand('taskset', ['-c', '0', process.execPath, CLI, ...args], {
            cwd: dir,
            env: cliEnv(env),
          }).then((c) => ({ code: c.code, out: c.stdout + c.stderr }))
        : await runCli(dir, args, env);
      expect(r.code, r.out).toBe(1);
      const result = JSON.parse(readFileSync(join(dir, json), 'utf8')) as RunResult;
      return result.files.map((f) => ({
        file: f.file,
        status: f.status,
        attempts: f.attempts,
        tests: f.tests.map((t) => `${t.name}: ${t.status}`),
        // Jest's CLI prints its summary; a forked worker has none to print
        cli: /Test Suites:/.test(f.output),
        error: f.error?.replace(/sandbox \w+/, 'sandbox X').split('\n')[0],
      }));
    };
    const forked = await outcome(true);
    const cli = await outcome(false);
    const oneCore = await outcome(true, true);
    expect(forked.map((f) => f.cli)).toEqual(forked.map(() => false));
    expect(oneCore).toEqual(forked);
    expect(cli.filter((f) => f.status !== 'error').map((f) => f.cli)).toEqual(
      cli.filter((f) => f.status !== 'error').map(() => true),
    );
    const same = (files: typeof forked) => files.map(({ cli: _, ...rest }) => rest);
    expect(same(forked)).toEqual(same(cli));
    const byFile = Object.fromEntries(forked.map((f) => [f.file, f]));
    expect(byFile['test/ledger.test.js']?.tests).toContain('ledger > settles on a retry: flaky'); // passed on its retry
    expect(byFile['test/hangs.test.js']?.error).toMatch(/timed out after 3000 ms/);
    expect(byFile['test/hog.test.js']?.error).toMatch(/memory limit/);
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test("a file that builds and drops a large heap passes without Jest's force-exit warning: its forked worker exits at once after its result", async () => {
    // Node's own end of the event loop would wait for the background tasks the collector of
    // such a heap posts, which no thread of a fork runs: the worker hung until it was ended
    const before = hostState();
    const heap =
      "test('builds and drops a large heap', () => { let keep = []; for (let i = 0; i < 40; i++) keep.push(Array.from({ length: 100000 }, (_, j) => ({ i, j }))); expect(keep.length).toBe(40); keep = null; });\n";
    const dir = jestProjectRunning('jest-large-heap', {
      'test/heap-a.test.js': heap,
      'test/heap-b.test.js': heap,
    });
    const r = await runCli(dir, ['run', '--workers', '2']);
    expect(r.code, r.out).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8')) as RunResult;
    expect(result.files.map((f) => [f.file, f.status, f.warnings ?? []])).toEqual([
      ['test/heap-a.test.js', 'passed', []],
      ['test/heap-b.test.js', 'passed', []],
    ]);
    expect(r.out).not.toMatch(/failed to exit gracefully/);
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test('with -v, what the tests of a file logged is printed under its name, as Jest prints it', async () => {
    const before = hostState();
    const dir = jestProjectRunning('jest-verbose-console', {
      'test/logs.test.js':
        "test('logs', () => { console.log('logged by a passing test'); console.warn('warned'); });\n",
    });
    const r = await runCli(dir, ['run', '-v']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('[test/logs.test.js] console.log\n');
    expect(r.out).toContain('[test/logs.test.js]   logged by a passing test\n');
    expect(r.out).toContain('[test/logs.test.js] console.warn\n');
    // without -v a passing file's output stays in the JSON result only
    const quiet = await runCli(dir, ['run']);
    expect(quiet.out).not.toContain('logged by a passing test');
    const result = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8')) as RunResult;
    expect(result.files[0]?.output).toContain('logged by a passing test');
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test("seedfork audit runs Jest's files in sandboxes through the worker zygote with the verdicts, polluter and leftovers of Jest's CLI", {
    timeout: 300_000,
  }, async () => {
    const before = hostState();
    const dir = jestProject('jest-audit-zygote');
    // async: two audits in a row would block Vitest's worker past its 60 s RPC timeout
    const verdicts = async (zygote: boolean) => {
      const json = `${zygote ? 'zygote' : 'cli'}-audit.json`;
      const r = await runCli(dir, ['audit', '--repeat', '2', '--json', json], {
        SEEDFORK_ZYGOTE: zygote ? '1' : '0',
      });
      expect(r.code, r.out).toBe(1); // the fixture's failing tests
      const report = JSON.parse(readFileSync(join(dir, json), 'utf8')) as {
        tests: {
          file: string;
          name: string;
          category: string;
          search?: { files: string[]; tests: unknown[] };
        }[];
        leftovers: { file: string; files: unknown }[];
      };
      return {
        tests: report.tests.map((t) => ({
          test: `${t.file} ${t.name}`,
          category: t.category,
          culprits: t.search && { files: t.search.files, tests: t.search.tests },
        })),
        leftovers: report.leftovers.map((l) => ({ file: l.file, files: l.files })),
      };
    };
    const forked = await verdicts(true);
    expect(forked).toEqual(await verdicts(false));
    // the fixture's ground truth: the ledger's shared /tmp file breaks the audit log's first test
    expect(
      forked.tests.find((t) => t.test === 'test/audit-log.test.js audit log > starts closed'),
    ).toMatchObject({
      category: 'order-dependent',
      culprits: { files: ['test/ledger.test.js'] },
    });
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });
});
