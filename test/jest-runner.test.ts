import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';
import { runnerJsonStatuses } from './support/runner-json.js';

if (!isRoot) console.warn('skipping the Jest runner integration test: sandboxes need root');

describe.skipIf(!isRoot)('seedfork/jest, the Jest runner', () => {
  test("jest with runner seedfork/jest gives the per-test results of seedfork run, which falls back to Jest's own runner", async () => {
    const before = hostState();
    const dir = join(REPO, 'test-output', 'projects', `jest-runner-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(REPO, 'test/fixtures/runners/jest'), dir, { recursive: true });
    // the runner in the project's own Jest config: `seedfork run` (inside a sandbox already)
    // must fall back to Jest's own runner, and plain `jest` gets sandboxes
    writeFileSync(
      join(dir, 'jest.config.mjs'),
      `export default { testEnvironment: 'node', transform: {}, testMatch: ['**/test/**/*.test.js'], runner: ${JSON.stringify(join(REPO, 'dist/integrations/jest/runner.js'))} };\n`,
    );

    const sandboxed = await runCli(dir, ['run']);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    const expected = Object.fromEntries(result.files.flatMap((f) => f.tests.map((t) => [t.name, t.status])));
    expect(Object.keys(expected).length, sandboxed.out).toBeGreaterThan(3);

    const jest = spawnSync(
      process.execPath,
      [join(REPO, 'node_modules/jest/bin/jest.js'), '--ci', '-w', '2', '--json', '--outputFile=jest.json'],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules' } },
    );
    expect(jest.status, jest.stderr).toBe(1); // the fixture has a failing test
    expect(runnerJsonStatuses(join(dir, 'jest.json'))).toEqual(expected);
    // that jest process took a seedfork run lock: it made the sandboxes itself
    expect(readdirSync(join(dir, '.seedfork/runs')).some((f) => f.startsWith(`${jest.pid}-`))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
    await expectHostClean(before);
  });
});
