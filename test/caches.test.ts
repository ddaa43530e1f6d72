import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from './support/cli.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

if (!isRoot) console.warn('skipping the warm cache test: sandboxes need root');

const writer = (name: string, fail: boolean) => `import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
test('${name}', async () => {
  mkdirSync('.cache/tool', { recursive: true });
  writeFileSync('.cache/tool/${name}-entry', '${name}');
  await new Promise((resolve) => setTimeout(resolve, 300));
  // no entry another file of this run wrote is visible, whatever the order
  assert.deepEqual(readdirSync('.cache/tool').filter((e) => e.endsWith('-entry')).sort(), [${'`'}${name}-entry${'`'}]);
  ${fail ? "assert.fail('this file fails');" : ''}
});
`;

describe.skipIf(!isRoot)('warm tool caches', () => {
  test('entries from passing files are merged after the run, new ones only; failing files and overwrites are dropped', async () => {
    const before = hostState();
    const dir = makeProject('caches', {
      'seedfork.config.mjs': `export default { test: { include: ['test/*.test.mjs'], runner: 'node' }, cache: ['.cache/tool'] };\n`,
      'test/a.test.mjs': writer('a', false),
      'test/b.test.mjs': writer('b', true),
      'test/c.test.mjs': writer('c', false),
      'test/poison.test.mjs': `import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
test('overwrites an existing entry and passes', () => {
  writeFileSync('.cache/tool/existing', 'poisoned');
});
`,
    });
    mkdirSync(join(dir, '.cache/tool'), { recursive: true });
    writeFileSync(join(dir, '.cache/tool/existing'), 'original');
    const first = await runCli(dir, ['run', '--workers', '2']);
    expect(first.code, first.out).toBe(1); // b fails
    expect(readFileSync(join(dir, '.cache/tool/a-entry'), 'utf8')).toBe('a');
    expect(readFileSync(join(dir, '.cache/tool/c-entry'), 'utf8')).toBe('c');
    expect(existsSync(join(dir, '.cache/tool/b-entry'))).toBe(false); // its file failed
    expect(readFileSync(join(dir, '.cache/tool/existing'), 'utf8')).toBe('original'); // never overwritten

    // the next run starts warm: every sandbox sees what the last run merged
    writeFileSync(
      join(dir, 'test/a.test.mjs'),
      `import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
test('warm', () => assert.equal(readFileSync('.cache/tool/c-entry', 'utf8'), 'c'));
`,
    );
    const second = await runCli(dir, ['run', 'test/a.test.mjs']);
    expect(second.out).toMatch(/1 passed/);

    // gc --caches resets them
    const gc = await runCli(dir, ['gc', '--caches']);
    expect(gc.out).toContain(`emptied cache ${join(dir, '.cache/tool')}`);
    expect(existsSync(join(dir, '.cache/tool'))).toBe(false);
    await expectHostClean(before);
  });

  test('a cache directory reached through a symbolic link (a linked node_modules) is merged where the link points', async () => {
    const before = hostState();
    const dir = makeProject('caches-linked', {
      'seedfork.config.mjs': `export default { test: { include: ['test/*.test.mjs'], runner: 'node' }, cache: ['node_modules/.cache/tool'] };\n`,
      'test/a.test.mjs': `import { mkdirSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
test('writes an entry', () => {
  mkdirSync('node_modules/.cache/tool', { recursive: true });
  writeFileSync('node_modules/.cache/tool/a-entry', 'a');
});
`,
    });
    // node_modules is a link to a directory elsewhere (a workspace's, a shared install)
    const shared = join(dir, 'shared-modules');
    mkdirSync(shared);
    symlinkSync(shared, join(dir, 'node_modules'));
    const run = await runCli(dir, ['run']);
    expect(run.code, run.out).toBe(0);
    expect(readFileSync(join(shared, '.cache/tool/a-entry'), 'utf8')).toBe('a');
    await expectHostClean(before);
  });
});
