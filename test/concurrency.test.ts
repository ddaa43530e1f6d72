import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli, startCli } from './support/cli.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

if (!isRoot) console.warn('skipping the concurrency test: sandboxes need root');

/** A small suite whose seed takes a while (so runs wait for each other's snapshot) and whose
 * files hold their sandboxes for a while (so runs overlap). */
function project(name: string): string {
  const files: Record<string, string> = {
    'seedfork.config.mjs': `export default {
  seed: { steps: ['sleep 1', 'mkdir -p /srv/seeded && echo ${name} > /srv/seeded/name'] },
  test: { include: ['test/*.test.mjs'], runner: 'node' },
};
`,
  };
  for (let i = 0; i < 4; i++) {
    files[`test/t${i}.test.mjs`] = `import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
test('sees its own seed and its own /tmp', async () => {
  assert.equal(readFileSync('/srv/seeded/name', 'utf8').trim(), '${name}');
  writeFileSync('/tmp/mine', '${i}');
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(readFileSync('/tmp/mine', 'utf8'), '${i}');
});
`;
  }
  return makeProject(`concurrent-${name}`, files);
}

describe.skipIf(!isRoot)('concurrent seedfork processes on one machine', () => {
  test('runs in one project and in two projects at once, with gc in a loop beside them, all pass and leave nothing', async () => {
    const before = hostState();
    const projects = { a: project('a'), b: project('b') };
    const runs = [
      ...[1, 2, 3].map((n) => ({ project: 'a' as const, n })),
      ...[1, 2].map((n) => ({ project: 'b' as const, n })),
    ].map(({ project, n }) => {
      const json = `.seedfork/results-${n}.json`;
      return { project, json, cli: startCli(projects[project], ['run', '--workers', '2', '--json', json]) };
    });
    let done = false;
    const codes = Promise.all(runs.map((r) => r.cli.exited)).finally(() => {
      done = true;
    });
    let gcs = 0;
    const gcFailures: string[] = [];
    while (!done) {
      for (const dir of Object.values(projects)) {
        const gc = await runCli(dir, ['gc', '--keep-kept']);
        gcs++;
        if (gc.code !== 0) gcFailures.push(gc.out);
      }
    }
    const exitCodes = await codes;
    for (const [i, r] of runs.entries()) expect(exitCodes[i], r.cli.output()).toBe(0);
    expect(gcFailures).toEqual([]);
    expect(gcs).toBeGreaterThan(2);

    // They did overlap: every run started before any run finished.
    const spans = runs.map((r) => {
      const result = JSON.parse(readFileSync(join(projects[r.project], r.json), 'utf8'));
      expect(result.summary.passed).toBe(4);
      const start = Date.parse(result.startedAt);
      return { start, end: start + result.durationMs };
    });
    expect(Math.max(...spans.map((s) => s.start))).toBeLessThan(Math.min(...spans.map((s) => s.end)));

    // Each project's snapshot was built once; the other runs waited for it and reused it.
    for (const name of ['a', 'b'] as const) {
      const built = runs.filter((r) => r.project === name && /snapshot \w+ built in/.test(r.cli.output()));
      expect(built).toHaveLength(1);
    }
    await expectHostClean(before);
  }, 180_000);
});

describe('two runs with isolation none in one project', () => {
  test('the second is refused with the reason, and the first (its processes, its report) is left whole', async () => {
    const dir = makeProject('concurrent-none', {
      'seedfork.config.mjs': `export default { test: { include: ['test/*.test.mjs'], runner: 'node' }, isolation: 'none', workers: 1 };\n`,
      'test/slow.test.mjs': `import { writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('slow', async () => {\n  writeFileSync('started', '1');\n  await new Promise((r) => setTimeout(r, 2000));\n});\n`,
    });
    const first = startCli(dir, ['run']);
    const started = join(dir, 'started');
    for (let i = 0; i < 200 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(started), first.output()).toBe(true);
    const second = await runCli(dir, ['run']);
    expect(second.code).toBe(2);
    expect(second.out).toMatch(
      /another seedfork run with isolation none \(process \d+\) is using this project's shared host .*wait for it to finish, or use isolation namespace/,
    );
    expect(await first.exited, first.output()).toBe(0);
    expect(first.output()).toMatch(/1 file, 1 test: 1 passed/);
    // the first let go: the next run goes ahead
    rmSync(started);
    const third = await runCli(dir, ['run']);
    expect(third.code, third.out).toBe(0);
  }, 60_000);
});
