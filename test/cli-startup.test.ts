import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { CLI, makeProject, REPO } from './support/project.js';

const REGISTER = join(REPO, 'test/support/import-log/register.mjs');

/** The modules `seedfork args` resolves in `cwd`, as URLs (dist's and packages' files). */
function modulesLoaded(cwd: string, args: string[]): string[] {
  return modulesResolvedBy(cwd, [CLI, ...args], `imports-${args[0]}.log`);
}

/** The modules `node argv` resolves in `cwd`, logged to `logName` there. */
function modulesResolvedBy(cwd: string, argv: string[], logName: string): string[] {
  const log = join(cwd, logName);
  rmSync(log, { force: true });
  const r = spawnSync(process.execPath, ['--import', REGISTER, ...argv], {
    cwd,
    env: { ...process.env, IMPORT_LOG: log, NO_COLOR: '1' },
    encoding: 'utf8',
  });
  expect(r.error).toBeUndefined();
  return readFileSync(log, 'utf8').trim().split('\n');
}

/** Loaded modules that match any of `patterns`. */
function matching(urls: string[], patterns: RegExp[]): string[] {
  return urls.filter((url) => patterns.some((p) => p.test(url)));
}

describe('the CLI loads only what the command runs', () => {
  const dir = makeProject('cli-startup', {
    'seedfork.config.mjs': "export default { test: { include: ['test/*.test.js'] } };\n",
    'test/a.test.js': '',
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('seedfork run loads none of the server, audit or init modules', () => {
    // a filter that matches no file: the run stops after its modules are loaded and the suite read
    const urls = modulesLoaded(dir, ['run', 'no-such-file']);
    expect(urls.some((u) => u.endsWith('/dist/run/run.js'))).toBe(true);
    expect(
      matching(urls, [
        /\/dist\/(server|init)\//,
        /\/dist\/audit\/audit\.js$/,
        /\/node_modules\/(hono|@hono|yaml)\//,
      ]),
    ).toEqual([]);
  });

  test('seedfork run opens the history for its quarantine list only once a test fails', () => {
    const project = makeProject('cli-startup-quarantine', {
      'seedfork.config.mjs':
        "export default { test: { include: ['test/*.test.mjs'], runner: 'node' }, isolation: 'none' };\n",
      'test/a.test.mjs': "import test from 'node:test';\ntest('adds', () => {});\n",
    });
    const seedfork = (args: string[]) =>
      spawnSync(process.execPath, [CLI, ...args], {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
    // the project's embedded history, with one quarantined test
    expect(seedfork(['quarantine', 'add', 'flips', '--reason', 'TICKET-9']).status).toBe(0);
    const pglite = [/\/node_modules\/@electric-sql\/pglite\//];
    expect(matching(modulesLoaded(project, ['run']), pglite)).toEqual([]);
    writeFileSync(
      join(project, 'test/a.test.mjs'),
      "import test from 'node:test';\ntest('adds', () => {});\ntest('flips', () => { throw new Error('flipped'); });\n",
    );
    expect(matching(modulesLoaded(project, ['run']), pglite)).not.toEqual([]);
    const result = JSON.parse(readFileSync(join(project, '.seedfork/results.json'), 'utf8')) as RunResult;
    expect(result.files[0]?.tests.find((t) => t.name === 'flips')).toMatchObject({
      status: 'failed',
      quarantined: 'TICKET-9',
    });
    rmSync(project, { recursive: true, force: true });
  });

  test("seedfork/jest, which Jest's own process loads as the runner, loads no backend or SDK module", () => {
    const runner = join(REPO, 'dist/integrations/jest/runner.js');
    const urls = modulesResolvedBy(dir, ['-e', `import(${JSON.stringify(runner)})`], 'imports-runner.log');
    expect(urls.some((u) => u.endsWith('/dist/integrations/jest/runner.js'))).toBe(true);
    expect(
      matching(urls, [/\/dist\/(sdk|seed|run)\//, /\/dist\/sandbox\/(namespace\/backend|microvm)/]),
    ).toEqual([]);
  });

  test('seedfork --version loads no command', () => {
    const urls = modulesLoaded(dir, ['--version']);
    expect(
      matching(urls, [/\/dist\/(run|server|init|sandbox|adapters|seed)\//, /\/dist\/audit\/audit\.js$/]),
    ).toEqual([]);
  });
});
