import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runChecked, runCommand } from './support/command.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

/**
 * What a new user does: the bundled example copied out of the repository as a project of their
 * own, the packed seedfork installed into it from its tarball (its dependencies from the npm
 * registry), then `npx seedfork init` and `npx seedfork run` with no edit in between, on the
 * machine's Node and on Node 24 (an official binary from the npm registry).
 */
if (!isRoot) console.warn('skipping the packed-package test: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot)('the packed package in a fresh project', () => {
  let before: HostState;
  let work: string;
  let tarball: string;
  let node24: string;
  beforeAll(async () => {
    before = hostState();
    work = mkdtempSync(join(tmpdir(), 'seedfork-package-'));
    const packed = await runChecked('npm', ['pack', '--silent', '--pack-destination', work], { cwd: REPO });
    tarball = join(work, packed.stdout.trim().split('\n').pop()!);
    node24 = (await runChecked('bash', [join(REPO, 'scripts/node-version.sh'), '24'])).stdout.trim();
  }, 300_000);
  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await expectHostClean(before);
  });

  test.each([
    ['the machine’s Node', undefined],
    ['Node 24', 'node24'],
  ])(
    'examples/todo-api as a new project: npm install -D <tarball>, init, run passes (%s)',
    async (_label, which) => {
      const env = which ? { ...process.env, PATH: `${node24}:${process.env.PATH}` } : process.env;
      const dir = join(work, `todo-api-${which ?? 'default'}`);
      cpSync(join(REPO, 'examples/todo-api'), dir, {
        recursive: true,
        filter: (src) => !/\/(node_modules|\.seedfork)(\/|$)|seedfork\.config\.ts$/.test(src),
      });
      await runChecked('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env });
      await runChecked(
        'npm',
        ['install', '--save-dev', '--no-audit', '--no-fund', '--loglevel=error', tarball],
        {
          cwd: dir,
          env,
        },
      );
      const version = await runChecked('node', ['--version'], { cwd: dir, env });
      if (which) expect(version.stdout).toMatch(/^v24\./);
      const init = await runCommand('npx', ['seedfork', 'init'], { cwd: dir, env: { ...env, CI: 'true' } });
      expect(init.code, init.out).toBe(0);
      expect(init.out).toMatch(/service: postgres/);
      const run = await runCommand('npx', ['seedfork', 'run'], { cwd: dir, env: { ...env, CI: 'true' } });
      expect(run.code, run.out).toBe(0);
      const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
      expect(result.summary.failed).toBe(0);
      expect(result.summary.passed).toBeGreaterThanOrEqual(18);
    },
  );
});
