import { exec } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { type CommandResult, runCommand } from './support/command.js';
import { startHistoryServer } from './support/history-server.js';
import { CLI, makeProject, REPO } from './support/project.js';

type Job = Record<string, unknown> & {
  steps?: {
    name?: string;
    run?: string;
    uses?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
  }[];
};

/** GitHub's `${{ name }}` expressions filled in from `values`, as the runner would ('' when unset). */
function expressions(script: string, values: Record<string, string>): string {
  return script.replace(/\$\{\{ ([\w.]+) \}\}/g, (_, name: string) => values[name] ?? '');
}

const load = (name: string) => parse(readFileSync(join(REPO, 'examples/ci', name), 'utf8'));

/** A tiny suite that runs without root (`isolation: 'none'`), to execute the CI commands on. */
function project(name: string): string {
  const test = (n: number) =>
    `import { test } from 'node:test';\ntest('t${n}', async () => { await new Promise((r) => setTimeout(r, ${n * 40})); });\n`;
  const files: Record<string, string> = {
    'seedfork.config.mjs': `export default { test: { include: ['test/*.test.js'] }, isolation: 'none', workers: 1 };\n`,
  };
  for (let i = 1; i <= 6; i++) files[`test/f${i}.test.js`] = test(i);
  const dir = makeProject(name, files);
  mkdirSync(join(dir, 'reports'), { recursive: true });
  return dir;
}

/** Run a CI script line locally: `npx seedfork` is the built CLI, sudo is not needed for isolation none. */
async function sh(dir: string, script: string, env: Record<string, string>): Promise<CommandResult> {
  const command = script.replace('sudo -E env "PATH=$PATH" ', '').replaceAll('npx seedfork', `node ${CLI}`);
  return runCommand('/bin/sh', ['-c', command], {
    cwd: dir,
    env: { ...process.env, ...env, CI: 'true', NO_COLOR: '1' },
  });
}

/** {@link sh} without blocking: for jobs that must run at the same time. */
function shAsync(
  dir: string,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  const command = script.replace('sudo -E env "PATH=$PATH" ', '').replaceAll('npx seedfork', `node ${CLI}`);
  return new Promise((done) => {
    exec(
      command,
      { cwd: dir, env: { ...process.env, ...env, CI: 'true', NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

describe('examples/ci/github-actions.yml', () => {
  const workflow = load('github-actions.yml');
  const test_ = workflow.jobs.test as Job;
  const merge = workflow.jobs.merge as Job;
  const step = (job: Job, pattern: RegExp) =>
    job.steps!.find((s) => pattern.test(`${s.name ?? ''} ${s.run ?? ''}`))!;

  test('has one matrix job per shard and a merge job after them', async () => {
    const shards = (test_.strategy as { matrix: { shard: number[] } }).matrix.shard;
    expect(shards).toEqual(Array.from({ length: Number(workflow.env.SHARDS) }, (_, i) => i + 1));
    expect(merge.needs).toBe('test');
    const restore = (job: Job) => job.steps!.find((s) => s.uses?.startsWith('actions/cache/restore'))!.with;
    expect(restore(merge)).toEqual(restore(test_)); // every job plans from the same timings
    const save = merge.steps!.find((s) => s.uses?.startsWith('actions/cache/save'))!.with!;
    expect(save.key).toBe(restore(test_)!.key);
    expect(save.path).toBe('.seedfork/timings.json');
  });

  test('its shard and merge commands work as written', async () => {
    const dir = project('gha');
    const env = { SEEDFORK_RUN_ID: 'gha-1-1' };
    for (const shard of [1, 2, 3, 4]) {
      // GitHub's expressions, ${{ ... }}, filled in as the runner would.
      const run = step(test_, /Run shard/)
        .run!.replace(/\$\{\{ matrix\.shard \}\}/g, String(shard))
        .replace(/\$\{\{ env\.SHARDS \}\}/g, workflow.env.SHARDS);
      const r = await sh(dir, run, env);
      expect(r.code, r.out).toBe(0);
    }
    // without a history server (the repository variable unset)
    const r = await sh(dir, expressions(step(merge, /seedfork merge/).run!, {}), env);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/merged 4 shards: 6 files, 6 tests: 6 passed/);
    expect(JSON.parse(readFileSync(join(dir, 'reports/merged.json'), 'utf8')).runId).toBe('gha-1-1');
    expect(readFileSync(join(dir, 'reports/junit.xml'), 'utf8')).toMatch(/tests="6"/);
    expect(
      Object.keys(JSON.parse(readFileSync(join(dir, '.seedfork/timings.json'), 'utf8')).files),
    ).toHaveLength(6);
  });

  test('its history step records the merged run on a history server and gates on it', async () => {
    const dir = project('gha-history');
    const env = { SEEDFORK_RUN_ID: 'gha-2-1' };
    for (const shard of [1, 2]) {
      const run = step(test_, /Run shard/)
        .run!.replace(/\$\{\{ matrix\.shard \}\}/g, String(shard))
        .replace(/\$\{\{ env\.SHARDS \}\}/g, '2');
      expect((await sh(dir, run, env)).code).toBe(0);
    }
    const serverDir = join(dir, 'history-server');
    mkdirSync(serverDir);
    const token = (await sh(serverDir, 'npx seedfork token create --service repo', {})).out
      .split('\n')[0]!
      .trim();
    const { server, url } = await startHistoryServer(serverDir);
    try {
      const github = (script: string) =>
        expressions(script, {
          'vars.SEEDFORK_SERVER': url,
          'github.event.repository.name': 'repo',
          'github.run_id': '2',
          'github.run_attempt': '1',
          'github.sha': 'abc123',
          'github.ref_name': 'main',
        });
      expect((await sh(dir, github(step(merge, /seedfork merge/).run!), env)).code).toBe(0);
      const record = step(merge, /flakiness history/);
      expect(record.env?.SEEDFORK_TOKEN).toMatch(/^\$\{\{ secrets\.SEEDFORK_TOKEN \}\}$/);
      const r = await sh(dir, github(record.run!), { SEEDFORK_TOKEN: token });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/repo build 2 attempt 1: stored 6 test result\(s\), 0 failed/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('examples/ci/github-actions-queue.yml', () => {
  const workflow = load('github-actions-queue.yml');
  const test_ = workflow.jobs.test as Job;
  const merge = workflow.jobs.merge as Job;
  const step = (job: Job, pattern: RegExp) =>
    job.steps!.find((s) => pattern.test(`${s.name ?? ''} ${s.run ?? ''}`))!;

  test('its jobs take files from the queue at the same time, and merge, record and gate as written', async () => {
    const serverDir = join(project('gha-queue-server'), 'history-server');
    mkdirSync(serverDir);
    const token = (await sh(serverDir, 'npx seedfork token create --service repo', {})).out
      .split('\n')[0]!
      .trim();
    const { server, url } = await startHistoryServer(serverDir);
    const github = (script: string, job = '') =>
      expressions(script, {
        'vars.SEEDFORK_SERVER': url,
        'github.event.repository.name': 'repo',
        'github.run_id': '3',
        'github.run_attempt': '1',
        'github.sha': 'abc123',
        'github.ref_name': 'main',
        'matrix.job': job,
      });
    try {
      const jobs = (test_.strategy as { matrix: { job: number[] } }).matrix.job;
      expect(jobs.length).toBeGreaterThan(1);
      const run = step(test_, /seedfork run/);
      expect(run.env?.SEEDFORK_TOKEN).toMatch(/^\$\{\{ secrets\.SEEDFORK_TOKEN \}\}$/);
      // each job on a machine of its own: a checkout each, all at once
      const env = { SEEDFORK_RUN_ID: '3-1', SEEDFORK_TOKEN: token };
      const checkouts = jobs.map((job) => project(`gha-queue-${job}`));
      const results = await Promise.all(
        jobs.map((job, k) => shAsync(checkouts[k]!, github(run.run!, String(job)), env)),
      );
      for (const r of results) expect(r.code, r.out).toBe(0);
      const ran = results.map((r) => (r.out.match(/^✓ /gm) ?? []).length);
      expect(ran.reduce((a, b) => a + b, 0)).toBe(6); // every file once, across the jobs
      // download-artifact with merge-multiple: every job's report in one reports/ directory
      const dir = project('gha-queue-merge');
      for (const [k, job] of jobs.entries())
        copyFileSync(join(checkouts[k]!, `reports/job-${job}.json`), join(dir, `reports/job-${job}.json`));
      const merged = await sh(dir, github(step(merge, /seedfork merge/).run!), { SEEDFORK_RUN_ID: '3-1' });
      expect(merged.code, merged.out).toBe(0);
      expect(merged.out).toMatch(new RegExp(`merged ${jobs.length} queue jobs: 6 files, 6 tests: 6 passed`));
      const gate = await sh(dir, github(step(merge, /flakiness history/).run!), { SEEDFORK_TOKEN: token });
      expect(gate.code, gate.out).toBe(0);
      expect(gate.out).toMatch(/repo build 3 attempt 1: stored 6 test result\(s\), 0 failed/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});

describe('examples/ci/gitlab-ci.yml', () => {
  const pipeline = load('gitlab-ci.yml');

  test('runs parallel shard jobs and a merge job that publishes the JUnit report', async () => {
    expect(pipeline.test.parallel).toBeGreaterThan(1);
    expect(pipeline.test.cache.policy).toBe('pull');
    expect(pipeline.merge.cache.policy).toBe('pull-push');
    expect(pipeline.merge.cache.key).toBe(pipeline.test.cache.key);
    expect(pipeline.merge.needs[0].job).toBe('test');
    expect(pipeline.merge.artifacts.reports.junit).toBe('reports/junit.xml');
  });

  test('its shard and merge commands work as written', async () => {
    const dir = project('gitlab');
    const total = pipeline.test.parallel as number;
    for (let index = 1; index <= total; index++) {
      const env = { CI_NODE_INDEX: String(index), CI_NODE_TOTAL: String(total), SEEDFORK_RUN_ID: 'gitlab-9' };
      for (const line of pipeline.test.script as string[]) expect((await sh(dir, line, env)).code).toBe(0);
    }
    const r = await sh(dir, (pipeline.merge.script as string[]).join('\n'), { SEEDFORK_RUN_ID: 'gitlab-9' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`merged ${total} shards: 6 files, 6 tests: 6 passed`));
  });

  test('its merge job records the pipeline on a history server when SEEDFORK_SERVER is set', async () => {
    const dir = project('gitlab-history');
    const env = { SEEDFORK_RUN_ID: 'gitlab-10' };
    const total = Number(pipeline.test.parallel);
    for (let i = 1; i <= total; i++) {
      for (const line of pipeline.test.script as string[]) {
        expect(
          (await sh(dir, line, { ...env, CI_NODE_INDEX: String(i), CI_NODE_TOTAL: String(total) })).code,
        ).toBe(0);
      }
    }
    const serverDir = join(dir, 'history-server');
    mkdirSync(serverDir);
    const token = (await sh(serverDir, 'npx seedfork token create --service shop', {})).out
      .split('\n')[0]!
      .trim();
    const { server, url } = await startHistoryServer(serverDir);
    try {
      const r = await sh(dir, (pipeline.merge.script as string[]).join('\n'), {
        ...env,
        SEEDFORK_SERVER: url,
        SEEDFORK_TOKEN: token,
        CI_PROJECT_NAME: 'shop',
        CI_PIPELINE_ID: '10',
        CI_COMMIT_SHA: 'abc123',
        CI_COMMIT_REF_NAME: 'main',
      });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/shop build 10 attempt 1: stored 6 test result\(s\), 0 failed/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
