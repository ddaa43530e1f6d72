import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { expectHostClean, hostState } from './support/host.js';
import { REPO } from './support/project.js';

const run = promisify(execFile);

test('examples/sdk: the todo-api suite, each file in a fork of the seeded snapshot, all pass; the host is clean after', async () => {
  const before = hostState();
  const files = readdirSync(join(REPO, 'examples/todo-api/test')).filter((f) => f.endsWith('.test.js'));
  const { stdout } = await run(process.execPath, [join(REPO, 'examples/sdk/fork-per-test.mjs')], {
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
