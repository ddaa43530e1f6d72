import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { expectHostClean, hostState } from './support/host.js';
import { microvmMissing, qemuPids } from './support/microvm.js';
import { REPO } from './support/project.js';

const run = promisify(execFile);
const EXAMPLE = join(REPO, 'examples/sdk/fork-per-test.mjs');

test('examples/sdk: the todo-api suite, each file in a fork of the seeded snapshot, all pass; the host is clean after', async () => {
  const before = hostState();
  const files = readdirSync(join(REPO, 'examples/todo-api/test')).filter((f) => f.endsWith('.test.js'));
  const { stdout } = await run(process.execPath, [EXAMPLE], {
    cwd: REPO,
    env: { ...process.env, NO_COLOR: '1' },
  });
  expect(stdout).toMatch(/^snapshot todo-api-namespace-[0-9a-f]{16} \(.+\) ready in \d+ ms$/m);
  for (const file of files)
    expect(stdout).toMatch(new RegExp(`^pass  test/${file.replace('.', '\\.')} `, 'm'));
  expect(stdout).toContain(
    `${files.length} files, ${files.length} passed, 0 failed, each in a fork of its own`,
  );
  await expectHostClean(before);
}, 180_000);

const why = microvmMissing();
if (why) console.warn(`skipping examples/sdk on the microvm backend: ${why}`);

test.skipIf(why !== undefined)(
  'examples/sdk --isolation microvm: two of its files, each in a guest forked from the saved one',
  async () => {
    const { stdout } = await run(
      process.execPath,
      [EXAMPLE, '--isolation', 'microvm', 'test/users.test.js', 'test/todos-create.test.js'],
      { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(stdout).toMatch(/^snapshot todo-api-microvm-[0-9a-f]{16} /m);
    expect(stdout).toMatch(/^pass {2}test\/users\.test\.js /m);
    expect(stdout).toMatch(/^pass {2}test\/todos-create\.test\.js /m);
    expect(stdout).toContain('2 files, 2 passed, 0 failed');
    expect(qemuPids()).toEqual([]);
  },
  600_000,
);
