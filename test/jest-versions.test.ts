import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { runChecked, runCommand } from './support/command.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject, REPO } from './support/project.js';
import { runnerJsonStatuses } from './support/runner-json.js';

/**
 * Jest 27, 28 and 29 (30 is the repository's own, tested everywhere else), each installed from
 * the npm registry into a project of its own: `seedfork run` through the worker zygote and
 * through Jest's CLI, and Jest with `--runner seedfork/jest`, all give the per-test verdicts of
 * plain Jest. Jest 26 is refused at preflight with the upgrade to make.
 */
const SUPPORTED = ['27.5.1', '28.1.3', '29.7.0'];
const UNSUPPORTED = '26.6.3';

const FILES = {
  'test/ledger.test.js': `describe('ledger', () => {
  test('adds entries', () => expect(1 + 1).toBe(2));
  test('rejects overdrafts', () => expect(-5).toBeGreaterThan(0));
  test.skip('exports to csv', () => {});
  test('sees its sandbox', () => expect(process.env.SEEDFORK === '1' || !process.env.SEEDFORK).toBe(true));
});
`,
  'test/audit.test.js': `test('leaves an interval running (force-exited as jest-worker does)', () => {
  setInterval(() => {}, 1000);
});
`,
  'jest.config.js': "module.exports = { testEnvironment: 'node' };\n",
  'seedfork.config.mjs':
    "export default { test: { include: ['test/*.test.js'], runner: 'jest', timeoutMs: 60_000 } };\n",
};

const project = (version: string) =>
  makeProject(`jest-${version}`, {
    ...FILES,
    'package.json': JSON.stringify({
      name: `jest-${version.replace(/\./g, '-')}`,
      private: true,
      devDependencies: { jest: version },
    }),
  });

const results = (dir: string): RunResult =>
  JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
const statuses = (result: RunResult) =>
  Object.fromEntries(result.files.flatMap((f) => f.tests.map((t) => [t.name, t.status])));

if (!isRoot) console.warn('skipping the Jest version tests: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot)('Jest 27 to 29, installed from the registry', () => {
  const dirs = new Map<string, string>();
  let before: HostState;
  beforeAll(async () => {
    before = hostState();
    await Promise.all(
      [...SUPPORTED, UNSUPPORTED].map(async (version) => {
        const dir = project(version);
        await runChecked(
          'npm',
          ['install', '--no-audit', '--no-fund', '--loglevel=error', '--no-package-lock'],
          {
            cwd: dir,
          },
        );
        dirs.set(version, dir);
      }),
    );
  }, 300_000);
  afterAll(async () => {
    await expectHostClean(before);
  });

  test.each(SUPPORTED)(
    'Jest %s: seedfork run (zygote and CLI) and seedfork/jest agree with plain Jest',
    async (version) => {
      const dir = dirs.get(version)!;
      // plain Jest on 2 workers
      const plain = await runCommand(
        join(dir, 'node_modules/.bin/jest'),
        ['--ci', '-w', '2', '--json', `--outputFile=${join(dir, 'plain.json')}`],
        { cwd: dir },
      );
      expect(plain.code, plain.out).toBe(1);
      const expected = runnerJsonStatuses(join(dir, 'plain.json'));
      expect(expected).toEqual({
        'ledger > adds entries': 'passed',
        'ledger > rejects overdrafts': 'failed',
        'ledger > exports to csv': 'skipped',
        'ledger > sees its sandbox': 'passed',
        'leaves an interval running (force-exited as jest-worker does)': 'passed',
      });

      for (const env of [{}, { SEEDFORK_ZYGOTE: '0' }] as Record<string, string>[]) {
        const r = await runCli(dir, ['run'], env);
        expect(r.code, r.out).toBe(1);
        expect(r.out).not.toMatch(/could not set up Jest|TypeError/);
        expect(statuses(results(dir)), JSON.stringify(env)).toEqual(expected);
        const audit = results(dir).files.find((f) => f.file === 'test/audit.test.js')!;
        expect(audit.status).toBe('passed');
        expect(audit.warnings?.[0]).toMatch(/force exited/);
      }

      const integrated = await runCommand(
        join(dir, 'node_modules/.bin/jest'),
        [
          '--ci',
          '-w',
          '2',
          `--runner=${join(REPO, 'dist/integrations/jest/runner.js')}`,
          '--json',
          `--outputFile=${join(dir, 'seedfork.json')}`,
        ],
        { cwd: dir },
      );
      expect(integrated.code, integrated.out).toBe(1);
      expect(runnerJsonStatuses(join(dir, 'seedfork.json'))).toEqual(expected);
    },
  );

  test(`Jest ${UNSUPPORTED}: refused before anything is seeded, with the upgrade to make`, async () => {
    const dir = dirs.get(UNSUPPORTED)!;
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain(`Jest ${UNSUPPORTED} is not supported: seedfork runs Jest 27 to 30`);
    expect(r.out).toMatch(/hint: Upgrade Jest: npm install --save-dev jest@29/);
    expect(r.out).not.toMatch(/\n\s+at /); // no stack trace
  });
});
