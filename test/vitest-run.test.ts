import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli, startCli } from './support/cli.js';
import { runChecked } from './support/command.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

if (!isRoot) console.warn('skipping the hosted Vitest tests of seedfork run: sandboxes need root');

const CONFIG = `export default {
  test: { include: ['test/*.test.ts'], runner: 'vitest', timeoutMs: 3000, env: { HOST_ONLY: false, PROBE: 'sandbox' } },
  limits: { memory: '256MiB' },
};
`;

/** Test files that pass, fail, flake, hang, fill memory, kill their worker, leave an unhandled
 * rejection, fail to load and fail in beforeAll. */
const FILES: Record<string, string> = {
  'test/ok.test.ts': `import { expect, test } from 'vitest';
test('sees its sandbox', async () => {
  console.log('hello from ok');
  expect(process.env.SEEDFORK_SANDBOX_ID).toMatch(/^[0-9a-f]{8}$/);
  expect(process.env.HOST_ONLY).toBeUndefined();
  expect(process.env.PROBE).toBe('sandbox');
  expect(process.env.FROM_CONFIG).toBe('yes');
  expect(process.env.VITEST).toBe('true');
});
`,
  'test/fail.test.ts': `import { describe, expect, test } from 'vitest';
describe('fail', () => {
  test('adds wrong', () => expect(1 + 1).toBe(3));
  test.skip('is skipped', () => {});
  test('passes', () => {});
});
`,
  'test/flaky.test.ts': `import { expect, test } from 'vitest';
test('settles on a retry', () => expect(process.env.SEEDFORK_ATTEMPT).toBe('2'));
`,
  'test/hangs.test.ts': `import { test } from 'vitest';
test('never ends', () => new Promise(() => { setInterval(() => {}, 1000); }), 60_000);
`,
  'test/hog.test.ts': `import { test } from 'vitest';
test('allocates past the limit', () => { const keep: Buffer[] = []; for (;;) keep.push(Buffer.alloc(16 * 1024 * 1024, 1)); });
`,
  'test/killed.test.ts': `import { test } from 'vitest';
test('kills its worker', () => { process.kill(process.pid, 'SIGKILL'); });
`,
  'test/unhandled.test.ts': `import { test } from 'vitest';
test('leaves a rejection behind', () => { void Promise.reject(new Error('rejected after the test')); });
`,
  'test/broken.test.ts': `import { test } from 'vitest';
import './missing.js';
test('never runs', () => {});
`,
  'test/setup-fails.test.ts': `import { beforeAll, describe, test } from 'vitest';
describe('setup', () => {
  beforeAll(() => { throw new Error('no database'); });
  test('needs the database', () => {});
});
`,
};

/** Directories Vitest's JUnit reporter wrote per-file reports in (seedfork removes them). */
const junitDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith('seedfork-vitest-junit-'));

/** Resolves once `ready()` holds; rejects after `ms`. */
function waitFor(ready: () => boolean, ms: number): Promise<void> {
  return new Promise((done, fail) => {
    const deadline = Date.now() + ms;
    const check = setInterval(() => {
      if (ready()) done();
      else if (Date.now() > deadline) fail(new Error(`not ready after ${ms} ms`));
      else return;
      clearInterval(check);
    }, 50);
  });
}

describe.skipIf(!isRoot)('seedfork run with Vitest hosted in its process', () => {
  let dir: string;

  beforeAll(async () => {
    dir = makeProject('vitest-run', {
      'package.json': JSON.stringify({
        name: 'vitest-run',
        private: true,
        type: 'module',
        devDependencies: { vitest: '4.1.12' },
      }),
      'seedfork.config.mjs': CONFIG,
      'vitest.config.ts': `import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { include: ['test/*.test.ts'], env: { FROM_CONFIG: 'yes' } } });
`,
      ...FILES,
    });
    await runChecked('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("each file runs through Vitest's worker forked into its sandbox, with the results, retries and limits of Vitest's CLI", async () => {
    const before = hostState();
    const outcome = async (hosted: boolean) => {
      const json = `${hosted ? 'hosted' : 'cli'}.json`;
      // the host's own values: one the config removes, one the sandbox sets
      const r = await runCli(dir, ['run', '--retries', '1', '--json', json], {
        SEEDFORK_ZYGOTE: hosted ? '1' : '0',
        HOST_ONLY: '1',
        PROBE: 'host',
      });
      expect(r.code, r.out).toBe(1);
      const result = JSON.parse(readFileSync(join(dir, json), 'utf8')) as RunResult;
      return Object.fromEntries(
        result.files.map((f) => [
          f.file,
          {
            status: f.status,
            attempts: f.attempts,
            tests: f.tests.map((t) => `${t.name}: ${t.status}`),
            error: f.error?.split('\n')[0],
            // Vitest's CLI prints its summary; a hosted Vitest prints none per file
            cli: /Test Files/.test(f.output),
            output: f.output,
          },
        ]),
      );
    };
    const hosted = await outcome(true);
    const cli = await outcome(false);
    expect(Object.values(hosted).map((f) => f.cli)).toEqual(Object.values(hosted).map(() => false));
    expect(cli['test/ok.test.ts']?.cli).toBe(true);
    const same = ({ cli: _, output: __, ...rest }: (typeof hosted)[string]) => rest;
    for (const file of [
      'test/ok.test.ts',
      'test/fail.test.ts',
      'test/flaky.test.ts',
      'test/hangs.test.ts',
      'test/broken.test.ts',
      'test/setup-fails.test.ts',
    ]) {
      expect(same(hosted[file]!), file).toEqual(same(cli[file]!));
    }
    expect(hosted['test/flaky.test.ts']?.tests).toEqual(['settles on a retry: flaky']);
    expect(hosted['test/hangs.test.ts']).toMatchObject({
      status: 'error',
      error: 'timed out after 3000 ms (test.timeoutMs)',
    });
    expect(hosted['test/ok.test.ts']?.output).toContain('hello from ok');
    expect(hosted['test/fail.test.ts']?.output).toMatch(
      /FAIL test\/fail\.test\.ts > fail > adds wrong\nAssertionError: expected 2 to be 3/,
    );
    // where the CLI says less, the hosted Vitest says why: the worker's end, the unhandled
    // rejection; a test cut short is left out rather than written as a pass
    expect(hosted['test/hog.test.ts']).toMatchObject({
      status: 'error',
      tests: [],
      error: expect.stringMatching(/memory limit/),
    });
    expect(cli['test/hog.test.ts']).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/memory limit/),
    });
    expect(hosted['test/killed.test.ts']).toMatchObject({
      status: 'error',
      tests: [],
      error: 'the Vitest worker exited with code 137 before its file finished',
    });
    expect(cli['test/killed.test.ts']?.status).toBe('failed');
    expect(hosted['test/unhandled.test.ts']).toMatchObject({
      status: 'failed',
      tests: ['leaves a rejection behind: passed'],
      error: 'Unhandled Rejection: Error: rejected after the test',
    });
    expect(cli['test/unhandled.test.ts']).toMatchObject({
      status: 'failed',
      tests: ['leaves a rejection behind: passed'],
    });
    expect(junitDirs()).toEqual([]);
    await expectHostClean(before);
  }, 180_000);

  test.each([
    ['as the workers start', /^seed: /m],
    ['after the first file', /✓ test\/ok\.test\.ts/],
  ])(
    'Ctrl-C %s removes every sandbox, zygote and report directory at once',
    async (_when, cue) => {
      const before = hostState();
      const cli = startCli(dir, ['run']);
      try {
        await waitFor(() => cue.test(cli.output()), 30_000);
      } catch (error) {
        cli.child.kill('SIGKILL');
        await cli.exited;
        await runCli(dir, ['gc']);
        throw new Error(`no cue in: ${cli.output()}`, { cause: error });
      }
      const interrupted = Date.now();
      cli.child.kill('SIGINT');
      expect(await cli.exited, cli.output()).toBe(130);
      // a worker killed before it answered Vitest's start must not hold Vitest's close for its
      // 60 s start timeout
      expect(Date.now() - interrupted).toBeLessThan(20_000);
      expect(cli.output()).toContain('stopping tests and removing sandboxes');
      expect(junitDirs()).toEqual([]);
      await expectHostClean(before);
    },
    60_000,
  );

  test("seedfork audit runs Vitest's files in sandboxes through the hosted Vitest with the verdicts and polluter of Vitest's CLI", async () => {
    const before = hostState();
    // a polluter and its victim: state left in the sandbox's /tmp by one breaks the other
    writeFileSync(
      join(dir, 'test/od-polluter.test.ts'),
      "import { test } from 'vitest';\nimport { writeFileSync } from 'node:fs';\ntest('leaves a lock', () => writeFileSync('/tmp/od-lock', '1'));\n",
    );
    writeFileSync(
      join(dir, 'test/od-victim.test.ts'),
      "import { expect, test } from 'vitest';\nimport { existsSync } from 'node:fs';\ntest('finds no lock', () => expect(existsSync('/tmp/od-lock')).toBe(false));\n",
    );
    const verdicts = async (hosted: boolean) => {
      const json = `${hosted ? 'hosted' : 'cli'}-audit.json`;
      const r = await runCli(
        dir,
        ['audit', 'od-', '--repeat', '2', '--runs', 'repeat,reverse', '--json', json],
        {
          SEEDFORK_ZYGOTE: hosted ? '1' : '0',
        },
      );
      expect(r.code, r.out).toBe(1);
      const report = JSON.parse(readFileSync(join(dir, json), 'utf8')) as {
        tests: { file: string; name: string; category: string; search?: { files: string[] } }[];
      };
      return report.tests.map((t) => ({
        test: `${t.file} ${t.name}`,
        category: t.category,
        culprits: t.search?.files,
      }));
    };
    const hosted = await verdicts(true);
    expect(hosted).toEqual(await verdicts(false));
    expect(hosted.find((t) => t.test === 'test/od-victim.test.ts finds no lock')).toMatchObject({
      category: 'order-dependent',
      culprits: ['test/od-polluter.test.ts'],
    });
    await expectHostClean(before);
  }, 180_000);

  test("a config Vitest must run in the sandbox (a globalSetup) runs the files with Vitest's CLI, and says why", async () => {
    writeFileSync(
      join(dir, 'vitest.config.ts'),
      `import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { include: ['test/*.test.ts'], globalSetup: ['./global-setup.ts'], env: { FROM_CONFIG: 'yes' } } });
`,
    );
    // it writes where only the sandbox's own /tmp is: on the host it would fail the test
    writeFileSync(
      join(dir, 'global-setup.ts'),
      "import { writeFileSync } from 'node:fs';\nexport default () => writeFileSync('/tmp/vitest-global-setup-ran', '1');\n",
    );
    writeFileSync(
      join(dir, 'test/ok.test.ts'),
      "import { expect, test } from 'vitest';\nimport { existsSync } from 'node:fs';\ntest('global setup ran in the sandbox', () => expect(existsSync('/tmp/vitest-global-setup-ran')).toBe(true));\n",
    );
    const r = await runCli(dir, ['run', 'test/ok.test.ts', '--json', 'fallback.json']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(
      /seedfork: Vitest cannot be hosted for this project \(the config has a globalSetup.*\); running the files with Vitest's CLI instead/,
    );
    const result = JSON.parse(readFileSync(join(dir, 'fallback.json'), 'utf8')) as RunResult;
    expect(result.files.map((f) => f.status)).toEqual(['passed']);
    expect(readdirSync('/tmp')).not.toContain('vitest-global-setup-ran');
  }, 60_000);
});
