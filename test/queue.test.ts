import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import type { CliProcess } from './support/cli.js';
import { runCli, startCli } from './support/cli.js';
import { startHistoryServer } from './support/history-server.js';
import { makeProject } from './support/project.js';

const FILES = ['f1', 'f2', 'f3', 'f4'];

/**
 * One CI job's checkout: the same test files on every job (so the same build), but the slow
 * file of job A writes `marker` (its pid) and then runs for a minute, so A can be killed in it.
 */
function checkout(job: string, marker?: string): string {
  const files: Record<string, string> = {
    'seedfork.config.mjs': `export default { test: { include: ['test/*.test.js'] }, isolation: 'none', workers: 1 };\n`,
    // the largest file: with no timings recorded, the costliest, so the first job takes it first
    'test/slow.test.js': `import { writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\n${'// padding\n'.repeat(40)}test('slow', async () => {\n${marker ? `  writeFileSync(${JSON.stringify(marker)}, String(process.pid));\n  await new Promise((r) => setTimeout(r, 60_000));\n` : '  await new Promise((r) => setTimeout(r, 300));\n'}});\n`,
  };
  for (const f of FILES)
    files[`test/${f}.test.js`] =
      `import { test } from 'node:test';\ntest('${f}', async () => { await new Promise((r) => setTimeout(r, 100)); });\n`;
  return makeProject(`queue-${job}`, files);
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

describe('seedfork run --queue: the jobs of one build take their files from seedfork serve', () => {
  let history = '';
  let server: CliProcess | undefined;
  let url = '';
  let token = '';
  beforeAll(async () => {
    history = mkdtempSync(join(tmpdir(), 'seedfork-queue-server-'));
    const made = await runCli(history, ['token', 'create', '--service', 'shop']);
    token = /^(sft_\S+)$/m.exec(made.out)?.[1] ?? '';
    expect(token, made.out).not.toBe('');
    ({ server, url } = await startHistoryServer(history));
    expect(url, server.output()).not.toBe('');
  });
  afterAll(async () => {
    server?.child.kill('SIGINT');
    await server?.exited;
    rmSync(history, { recursive: true, force: true });
  });

  const jobArgs = (job: string) => ['run', '--queue', url, '--service', 'shop', '--queue-job', job];

  test("a job killed mid-file loses its file to the other job, and the other job's report merges complete", async () => {
    const build = { SEEDFORK_TOKEN: token, SEEDFORK_RUN_ID: `queue-kill-${process.pid}` };
    const marker = join(tmpdir(), `seedfork-queue-slow-${process.pid}`);
    rmSync(marker, { force: true });
    const a = checkout('a', marker);
    const b = checkout('b');
    const jobA = startCli(a, [...jobArgs('A'), '--queue-lease', '2s', '--json', 'reports/a.json'], build);
    let slowPid = 0;
    try {
      await until(
        'job A to start the slow file',
        () => existsSync(marker) && readFileSync(marker, 'utf8') !== '',
      );
      slowPid = Number(readFileSync(marker, 'utf8'));
      const jobB = startCli(b, [...jobArgs('B'), '--json', 'reports/b.json'], build);
      jobA.child.kill('SIGKILL'); // the machine dies: no report, no goodbye
      await jobA.exited;
      expect(await jobB.exited, jobB.output()).toBe(0);
      expect(jobB.output()).toMatch(/queue: job B joined build queue-kill-\d+ .*\(5 of 5 files left\)/);
      expect(existsSync(join(a, 'reports/a.json'))).toBe(false);
      const report = JSON.parse(readFileSync(join(b, 'reports/b.json'), 'utf8')) as RunResult;
      expect(report.files.map((f) => f.file).sort()).toEqual([
        'test/f1.test.js',
        'test/f2.test.js',
        'test/f3.test.js',
        'test/f4.test.js',
        'test/slow.test.js',
      ]);
      expect(report.queue).toMatchObject({ build: build.SEEDFORK_RUN_ID, job: 'B', complete: true });
      const status = (await (await fetch(`${url}/api/v1/queue/shop/${build.SEEDFORK_RUN_ID}`)).json()) as {
        handedAgain: string[];
        jobs: { job: string; state: string }[];
      };
      expect(status.handedAgain).toEqual(['test/slow.test.js']);
      expect(status.jobs.map((j) => [j.job, j.state])).toEqual([
        ['A', 'lost'],
        ['B', 'complete'],
      ]);
      const merged = await runCli(b, ['merge', 'reports/b.json', '--json', 'reports/merged.json']);
      expect(merged.code, merged.out).toBe(0);
      expect(merged.out).toMatch(/merged 1 queue job: 5 files, 5 tests: 5 passed/);
    } finally {
      jobA.child.kill('SIGKILL');
      // isolation none: the runner A started outlives A; end it
      if (slowPid)
        try {
          process.kill(slowPid, 'SIGKILL');
        } catch {
          // gone already
        }
      rmSync(marker, { force: true });
    }
  }, 60_000);

  test('two live jobs split the build and their reports merge into every file', async () => {
    const build = { SEEDFORK_TOKEN: token, SEEDFORK_RUN_ID: `queue-two-${process.pid}` };
    const dirs = [checkout('c'), checkout('d')];
    const jobs = dirs.map((dir, k) =>
      startCli(dir, [...jobArgs(`J${k}`), '--json', 'reports/job.json'], build),
    );
    const codes = await Promise.all(jobs.map((j) => j.exited));
    expect(codes, jobs.map((j) => j.output()).join('\n')).toEqual([0, 0]);
    const reports = dirs.map(
      (dir) => JSON.parse(readFileSync(join(dir, 'reports/job.json'), 'utf8')) as RunResult,
    );
    const ran = reports.flatMap((r) => r.files.map((f) => f.file)).sort();
    expect(ran).toHaveLength(5);
    expect(new Set(ran).size).toBe(5); // no file ran twice
    expect(reports.every((r) => r.queue?.complete)).toBe(true);
    const merged = await runCli(dirs[0]!, [
      'merge',
      'reports/job.json',
      join(dirs[1]!, 'reports/job.json'),
      '--json',
      'reports/merged.json',
    ]);
    expect(merged.code, merged.out).toBe(0);
    expect(merged.out).toMatch(/merged 2 queue jobs: 5 files/);
    expect(merged.out).toMatch(/queue job balance/);
  }, 60_000);

  test('a wrong token, --shard, a missing run id or an unreachable server stop the run with the reason', async () => {
    const dir = checkout('e');
    const build = { SEEDFORK_RUN_ID: `queue-bad-${process.pid}` };
    const noToken = await runCli(dir, jobArgs('X'), { ...build, SEEDFORK_TOKEN: '' });
    expect(noToken.code).toBe(2);
    expect(noToken.out).toMatch(/--queue needs a token in SEEDFORK_TOKEN/);
    const bad = await runCli(dir, jobArgs('X'), { ...build, SEEDFORK_TOKEN: 'sft_wrong' });
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/answered 401: a valid bearer token is needed/);
    expect(bad.out).toMatch(/hint: Give the job a token for shop in SEEDFORK_TOKEN/);
    const sharded = await runCli(dir, [...jobArgs('X'), '--shard', '1/2'], {
      ...build,
      SEEDFORK_TOKEN: token,
    });
    expect(sharded.out).toMatch(/--queue and --shard do not go together/);
    const noRun = await runCli(dir, jobArgs('X'), {
      SEEDFORK_TOKEN: token,
      SEEDFORK_RUN_ID: '',
      GITHUB_RUN_ID: '',
    });
    expect(noRun.out).toMatch(/queue mode needs an id that every job of the CI run shares/);
    const down = await runCli(dir, ['run', '--queue', 'http://127.0.0.1:9', '--service', 'shop'], {
      ...build,
      SEEDFORK_TOKEN: token,
    });
    expect(down.code).toBe(2);
    expect(down.out).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9: .*gave up after 6 attempts/);
  }, 60_000);
});
