import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { runChecked, runCommand } from './support/command.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { makeProject, REPO } from './support/project.js';
import { runnerJsonStatuses } from './support/runner-json.js';

if (!isRoot) console.warn('skipping the Vitest pool integration test: sandboxes need root');

/** A test file that fails if any other file's sandbox (or the host's /tmp) is visible to it. */
const file = (name: string) => `import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
describe('${name}', () => {
  test('has /tmp to itself', () => {
    expect(existsSync('/tmp/claimed')).toBe(false);
    writeFileSync('/tmp/claimed', '${name}');
  });
  test('sees the snapshot', () => expect(process.env.SEEDFORK_SANDBOX_ID).toMatch(/^[0-9a-f]{8}$/));
  test('fails', () => expect(1).toBe(2));
  test.skip('is skipped', () => {});
});
`;

/** Vitest 5 needs Node >= 22.12 (its engines); on an older Node it is tested by
 * scripts/test-node.sh, which runs this file on Node 24. */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const vitest5Runs = major > 22 || (major === 22 && minor >= 12);
if (!vitest5Runs)
  console.warn(`skipping the Vitest 5 pool test: Vitest 5 needs Node >= 22.12, this is ${process.version}`);
const VERSIONS = ['4.1.12', ...(vitest5Runs ? ['5.1.2'] : [])];

describe.skipIf(!isRoot)('seedfork/vitest, the Vitest pool', () => {
  test.each(VERSIONS)(
    'vitest %s with pool seedforkPool() gives the per-test results of seedfork run, each file in its own sandbox',
    async (version) => {
      const before = hostState();
      const dir = makeProject(`vitest-pool-${version}`, {
        'package.json': JSON.stringify({
          name: 'vitest-pool',
          private: true,
          type: 'module',
          devDependencies: { vitest: version },
        }),
        'seedfork.config.mjs':
          "export default { test: { include: ['test/*.test.ts'], runner: 'vitest' } };\n",
        'vitest.config.ts': `import { defineConfig } from 'vitest/config';
import { seedforkPool } from '${join(REPO, 'dist/integrations/vitest/pool.js')}';
export default defineConfig({ test: { include: ['test/*.test.ts'], pool: process.env.PLAIN ? 'forks' : seedforkPool() } });
`,
        'test/a.test.ts': file('a'),
        'test/b.test.ts': file('b'),
        'test/c.test.ts': file('c'),
      });
      await runChecked('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });

      // seedfork run hosts the project's own Vitest (4 or 5) and forks its workers into sandboxes
      const run = await runCli(dir, ['run']);
      expect(run.out).not.toMatch(/cannot be hosted/);
      const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
      const expected = Object.fromEntries(
        result.files.flatMap((f) => f.tests.map((t) => [t.name, t.status])),
      );
      expect(expected['a > has /tmp to itself']).toBe('passed');

      const vitest = await runCommand(
        join(dir, 'node_modules/.bin/vitest'),
        ['run', '--maxWorkers', '2', '--reporter=json', '--outputFile=vitest.json'],
        { cwd: dir },
      );
      expect(vitest.code, vitest.stderr).toBe(1); // each file has a failing test
      expect(vitest.out).not.toContain('Error');
      expect(runnerJsonStatuses(join(dir, 'vitest.json'))).toEqual(expected);
      // that vitest process took a seedfork run lock: it made the sandboxes itself
      expect(readdirSync(join(dir, '.seedfork/runs')).some((f) => f.startsWith(`${vitest.pid}-`))).toBe(true);

      // the same files with Vitest's own forks pool share the host's /tmp: a file finds another's claim
      rmSync('/tmp/claimed', { force: true });
      await runCommand(
        join(dir, 'node_modules/.bin/vitest'),
        ['run', '--reporter=json', '--outputFile=plain.json'],
        {
          cwd: dir,
          env: { ...process.env, PLAIN: '1' },
        },
      );
      rmSync('/tmp/claimed', { force: true });
      expect(
        Object.values(runnerJsonStatuses(join(dir, 'plain.json'))).filter((s) => s === 'failed').length,
      ).toBeGreaterThan(3);

      // a file that fills its sandbox's memory: Vitest reports its worker's exit, seedfork says why,
      // and the other files run as before
      writeFileSync(
        join(dir, 'seedfork.config.mjs'),
        "export default { test: { include: ['test/*.test.ts'], runner: 'vitest' }, limits: { memory: '256MiB' } };\n",
      );
      writeFileSync(
        join(dir, 'test/hog.test.ts'),
        "import { test } from 'vitest';\ntest('allocates past the limit', () => { const keep: Buffer[] = []; for (;;) keep.push(Buffer.alloc(16 * 1024 * 1024, 1)); });\n",
      );
      const hog = await runCommand(
        join(dir, 'node_modules/.bin/vitest'),
        ['run', '--maxWorkers', '2', '--reporter=json', '--outputFile=hog.json'],
        { cwd: dir },
      );
      expect(hog.code).toBe(1);
      expect(hog.stderr).toMatch(/seedfork: the memory limit \(limits.memory = 256 MiB\) was reached/);
      const statuses = runnerJsonStatuses(join(dir, 'hog.json'));
      for (const [name, status] of Object.entries(expected)) expect(statuses[name], name).toBe(status);
      rmSync(dir, { recursive: true, force: true });
      await expectHostClean(before);
    },
  );
});
