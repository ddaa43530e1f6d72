import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FileResult, RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { type HostPostgres, startHostPostgres } from './support/postgres.js';
import { REPO } from './support/project.js';

/**
 * Each runner's fixture under test/fixtures/lingering/ has the same files: a test that fetches
 * over a keep-alive connection, one that leaves a server listening, a ref'd and an unref'd
 * interval, a pg pool never ended, and a failing test that leaves an interval. Each is run by
 * the plain runner on the host and by `seedfork run`, and the verdicts must agree: what the plain
 * runner passes passes, what it fails fails, and what it waits on for ever is an error under
 * seedfork, with the runner's own fix.
 */
const FIXTURES = join(REPO, 'test/fixtures/lingering');
const bin = (name: string) => join(REPO, 'node_modules/.bin', name);

/** A plain runner's verdict on one file: passed, failed, or never exited. */
type Verdict = 'passed' | 'failed' | 'hangs';

/** Run `argv` in `cwd`; `hangs` when it is still running after `ms`. */
function plain(argv: string[], cwd: string, env: Record<string, string>, ms: number) {
  return new Promise<{ verdict: Verdict; out: string }>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { ...process.env, ...env, CI: 'true', NO_COLOR: '1' },
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      resolve({ verdict: 'hangs', out });
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ verdict: code === 0 ? 'passed' : 'failed', out });
    });
  });
}

const files = (runner: string) =>
  readdirSync(join(FIXTURES, runner))
    .filter((f) => /\.(test|spec)\.js$/.test(f))
    .sort();

/** Per-file verdicts of a runner that runs the whole suite in one process with a JSON report
 * of per-file statuses (Jest's and Vitest's `testResults[].name/status`). */
async function wholeSuite(runner: 'jest' | 'vitest', env: Record<string, string>) {
  const dir = join(FIXTURES, runner);
  const report = join(REPO, 'test-output', `lingering-${runner}-${process.pid}.json`);
  // a fresh cache: with the timings of an earlier run Jest runs a few fast files in band, and
  // in band it waits for ever ("did not exit one second after the test run has completed")
  const cache = join(REPO, 'test-output', `lingering-jest-cache-${process.pid}`);
  rmSync(cache, { recursive: true, force: true });
  const argv =
    runner === 'jest'
      ? [bin('jest'), '--ci', '-w', '2', `--cacheDirectory=${cache}`, '--json', `--outputFile=${report}`]
      : [bin('vitest'), 'run', '--reporter=json', `--outputFile=${report}`];
  const run = await plain(argv, dir, env, 60_000);
  expect(run.verdict, run.out).not.toBe('hangs');
  const doc = JSON.parse(readFileSync(report, 'utf8')) as { testResults: { name: string; status: string }[] };
  rmSync(report, { force: true });
  rmSync(cache, { recursive: true, force: true });
  return {
    out: run.out,
    verdicts: Object.fromEntries(
      doc.testResults.map((r) => [r.name.slice(dir.length + 1), r.status === 'passed' ? 'passed' : 'failed']),
    ) as Record<string, Verdict>,
  };
}

/** Per-file verdicts of a runner run once per file (Mocha, node:test), each given `ms` to exit. */
async function perFile(runner: 'mocha' | 'node', env: Record<string, string>, ms: number) {
  const dir = join(FIXTURES, runner);
  const runs = await Promise.all(
    files(runner).map(async (file) => {
      const argv = runner === 'mocha' ? [bin('mocha'), file] : [process.execPath, '--test', file];
      return [file, (await plain(argv, dir, env, ms)).verdict] as const;
    }),
  );
  return Object.fromEntries(runs) as Record<string, Verdict>;
}

async function seedforkRun(runner: string, env: Record<string, string> = {}): Promise<RunResult> {
  const dir = join(FIXTURES, runner);
  const r = await runCli(dir, ['run'], env);
  expect(r.code, r.out).toBe(1); // the failing test
  return JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8')) as RunResult;
}

const byFile = (result: RunResult) => new Map(result.files.map((f) => [f.file, f]));

/** What a plain verdict must be under seedfork: a file the runner waits on for ever is an error
 * (failed, when a test of it failed). */
function expectAgrees(verdict: Verdict, file: FileResult) {
  if (verdict === 'hangs') {
    expect(file.status, file.error).toBe(file.tests.some((t) => t.status === 'failed') ? 'failed' : 'error');
    expect(file.error).toMatch(/did not exit|timed out/);
  } else expect(file.status, `${file.file}: ${file.error ?? ''}\n${file.output}`).toBe(verdict);
}

if (!isRoot) console.warn('skipping the lingering-handle tests: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot)('a file that leaves handles open gets the plain runner’s verdict', () => {
  let before: HostState;
  let pg: HostPostgres;
  let env: Record<string, string>;
  beforeAll(() => {
    before = hostState();
    pg = startHostPostgres(31);
    env = { DATABASE_URL: pg.url };
  });
  afterAll(async () => {
    pg?.stop();
    await expectHostClean(before);
  });

  test.each([
    ['the worker zygote', {}],
    ["Jest's CLI per file", { SEEDFORK_ZYGOTE: '0' }],
  ])(
    'jest (%s): force-exited as jest-worker does, verdict kept, Jest’s warning carried',
    async (_how, extra) => {
      const plainRun = await wholeSuite('jest', env);
      expect(plainRun.out).toContain('force exited');
      const result = byFile(await seedforkRun('jest', extra));
      for (const [file, verdict] of Object.entries(plainRun.verdicts))
        expectAgrees(verdict, result.get(file)!);
      for (const file of ['interval-ref.test.js', 'listening-server.test.js', 'open-pool.test.js']) {
        const r = result.get(file)!;
        expect(r.warnings?.[0]).toMatch(/^A worker process has failed to exit gracefully/);
        // the worker zygote says what the file left open; Jest's CLI is listed by its processes
        if (!(extra as Record<string, string>).SEEDFORK_ZYGOTE)
          expect(r.warnings?.[0]).toMatch(
            /\nLeft open by the file: \w+[\s\S]*ended its worker after its last result/,
          );
        else
          expect(r.warnings?.[0]).toMatch(
            /ended it 500 ms after its last result[\s\S]*Processes still running:\n\s*\d+ /,
          );
        // ended when jest-worker would end it, not after test.exitGraceMs (10 s)
        expect(r.durationMs).toBeLessThan(8_000);
      }
      expect(result.get('interval-unref.test.js')!.warnings).toBeUndefined();
      const failed = result.get('fails-and-lingers.test.js')!;
      expect(failed.status).toBe('failed');
      expect(failed.warnings).toHaveLength(1);
    },
  );

  test('vitest: its pool ends what a file left open; every file as plain Vitest judges it', async () => {
    const plainRun = await wholeSuite('vitest', env);
    const result = byFile(await seedforkRun('vitest'));
    expect(result.size).toBe(6);
    for (const [file, verdict] of Object.entries(plainRun.verdicts)) {
      expectAgrees(verdict, result.get(file)!);
      expect(result.get(file)!.tests).toHaveLength(1); // its own file's test only
      expect(result.get(file)!.durationMs).toBeLessThan(8_000);
    }
  });

  test('playwright: its workers end whatever a file left open; every file as plain Playwright judges it', async () => {
    const report = join(REPO, 'test-output', `lingering-playwright-${process.pid}.json`);
    const run = await plain(
      [bin('playwright'), 'test', '--workers', '2', '--reporter=json'],
      join(FIXTURES, 'playwright'),
      { ...env, PLAYWRIGHT_JSON_OUTPUT_NAME: report },
      60_000,
    );
    expect(run.verdict, run.out).toBe('failed'); // the failing test, and nothing hangs
    const doc = JSON.parse(readFileSync(report, 'utf8')) as {
      suites: { file: string; specs: { tests: { results: { status: string }[] }[] }[] }[];
    };
    rmSync(report, { force: true });
    const verdicts = Object.fromEntries(
      doc.suites.map((s) => [
        s.file,
        s.specs.every((spec) => spec.tests.every((t) => t.results.at(-1)?.status === 'passed'))
          ? 'passed'
          : 'failed',
      ]),
    ) as Record<string, Verdict>;
    expect(Object.keys(verdicts)).toHaveLength(6);
    expect(verdicts['fails-and-lingers.spec.js']).toBe('failed');
    const result = byFile(await seedforkRun('playwright'));
    for (const [file, verdict] of Object.entries(verdicts)) {
      expectAgrees(verdict, result.get(file)!);
      expect(result.get(file)!.durationMs).toBeLessThan(8_000);
    }
  });

  test('mocha: waits for ever, as plain Mocha does; ended after test.exitGraceMs with Mocha’s fix', async () => {
    const verdicts = await perFile('mocha', env, 6_000);
    expect(verdicts).toMatchObject({
      'interval-ref.spec.js': 'hangs',
      'interval-unref.spec.js': 'passed',
      'open-pool.spec.js': 'hangs',
    });
    const result = byFile(await seedforkRun('mocha'));
    for (const [file, verdict] of Object.entries(verdicts)) expectAgrees(verdict, result.get(file)!);
    const hung = result.get('interval-ref.spec.js')!;
    expect(hung.error).toMatch(/did not exit 3000 ms after reporting its last result/);
    expect(hung.error).toContain('set `exit: true` in .mocharc');
    expect(hung.tests).toMatchObject([{ status: 'passed' }]);
  });

  test('node:test: the file never ends, as with plain node --test; the timeout says why', async () => {
    const verdicts = await perFile('node', env, 6_000);
    expect(verdicts).toMatchObject({
      'interval-ref.test.js': 'hangs',
      'interval-unref.test.js': 'passed',
      'listening-server.test.js': 'hangs',
    });
    const result = byFile(await seedforkRun('node'));
    for (const [file, verdict] of Object.entries(verdicts)) expectAgrees(verdict, result.get(file)!);
    expect(result.get('interval-ref.test.js')!.error).toMatch(
      /timed out after 8000 ms \(test.timeoutMs\)\. If its tests had finished: node:test waits for whatever the file left open/,
    );
  });
});
