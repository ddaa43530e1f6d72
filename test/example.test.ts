import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CheckReport } from '../src/audit/check.js';
import type { AuditReport } from '../src/audit/types.js';
import { readJUnit } from '../src/report/junit-read.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

const EXAMPLE = join(REPO, 'examples/todo-api');

const seedfork = (args: string[]) => runCli(EXAMPLE, args);

if (!isRoot) console.warn('skipping the example suite: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot)('the todo-api example', () => {
  let before: HostState;
  beforeAll(() => {
    rmSync(join(EXAMPLE, '.seedfork'), { recursive: true, force: true });
    rmSync(join(EXAMPLE, '.cache'), { recursive: true, force: true });
    rmSync('/tmp/todo-api-audit.log', { force: true });
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('passes under seedfork, seeding once and reusing the snapshot after', async () => {
    const first = await seedfork(['run', '--junit', '.seedfork/junit.xml']);
    expect(first.out).toMatch(/seed: building snapshot/);
    expect(first.out).toMatch(/9 files, 18 tests: 18 passed, 0 failed/);
    expect(first.code, first.out).toBe(0);
    const cases = readJUnit(readFileSync(join(EXAMPLE, '.seedfork/junit.xml'), 'utf8'));
    expect(cases).toHaveLength(18);
    expect(cases.every((c) => c.status === 'passed')).toBe(true);

    const second = await seedfork(['run', '--workers', '4']);
    expect(second.out).toMatch(/seed: reusing cached snapshot [0-9a-f]{16} .*seeding skipped/);
    expect(second.code, second.out).toBe(0);
  });

  test('--shard 1/2 plus --shard 2/2, merged, give the same tests and outcomes as the full run', async () => {
    const outcomes = (path: string) =>
      JSON.parse(readFileSync(join(EXAMPLE, path), 'utf8'))
        .files.flatMap((f: { file: string; tests: { name: string; status: string }[] }) =>
          f.tests.map((t) => `${f.file} > ${t.name}: ${t.status}`),
        )
        .sort();
    const full = await seedfork(['run', '--json', '.seedfork/full.json']);
    expect(full.code, full.out).toBe(0);
    for (const i of [1, 2]) {
      const shard = await seedfork(['run', '--shard', `${i}/2`, '--json', `.seedfork/shard-${i}.json`]);
      expect(shard.code, shard.out).toBe(0);
      expect(shard.out).toMatch(new RegExp(`shard ${i}/2 \\(by timing\\): \\d of 9 test files`));
    }
    const merged = await seedfork([
      'merge',
      '.seedfork/shard-1.json',
      '.seedfork/shard-2.json',
      '--json',
      '.seedfork/merged.json',
      '--junit',
      '.seedfork/merged.xml',
    ]);
    expect(merged.code, merged.out).toBe(0);
    expect(merged.out).toMatch(/merged 2 shards: 9 files, 18 tests: 18 passed, 0 failed/);
    expect(outcomes('.seedfork/merged.json')).toHaveLength(18);
    expect(outcomes('.seedfork/merged.json')).toEqual(outcomes('.seedfork/full.json'));
    expect(readJUnit(readFileSync(join(EXAMPLE, '.seedfork/merged.xml'), 'utf8'))).toHaveLength(18);
  });

  test('audit names every test that depends on shared state, and all of them pass isolated', {
    timeout: 600_000,
  }, async () => {
    // the classes are what is checked here; the 99% reruns are capped at 20 file runs
    const r = await runCli(EXAMPLE, ['audit', '--repeat', '2', '--seed', '7', '--max-reruns', '20']);
    rmSync('/tmp/todo-api-audit.log', { force: true });
    rmSync(join(EXAMPLE, '.cache'), { recursive: true, force: true });
    expect(r.code, r.out).toBe(1);
    const audit: AuditReport = JSON.parse(readFileSync(join(EXAMPLE, '.seedfork/audit.json'), 'utf8'));
    expect(audit.tests).toHaveLength(18);
    const failedShared = audit.tests.filter((t) =>
      t.observations.some((o) => o.kind !== 'isolated' && o.status === 'failed'),
    );
    // The shared host with 2 workers fails most of the suite (rows, port 8080, /tmp log, disk cache).
    expect(failedShared.length).toBeGreaterThanOrEqual(10);
    for (const t of failedShared) {
      expect(['order-dependent', 'shared-state'], `${t.file} > ${t.name}`).toContain(t.category);
      const alone = t.observations.filter((o) => o.kind === 'isolated' && o.status !== 'missing');
      expect(alone.every((o) => o.status === 'passed')).toBe(true);
      expect(r.out).toContain(`${t.file} > ${t.name}`);
    }
    for (const t of audit.tests.filter((x) => x.category === 'order-dependent'))
      expect(t.search?.status, t.name).toBe('found');
    expect(
      audit.tests.filter((t) => ['non-deterministic', 'brittle', 'stable-fail'].includes(t.category)),
    ).toEqual([]);
    expect(r.out).toMatch(
      new RegExp(
        `${failedShared.length} tests depend on state shared with other tests \\(shared-state or order-dependent\\); all of them pass isolated`,
      ),
    );
    // Leftovers: the writes each file made to the seeded database.
    const created = audit.leftovers.find((l) => l.file === 'test/todos-create.test.js')!;
    expect(created.tables).toContainEqual(
      expect.objectContaining({ service: 'postgres', table: 'public.todos', inserted: 2 }),
    );
    expect(audit.leftovers.find((l) => l.file === 'test/audit.test.js')!.files.created).toContain(
      '/tmp/todo-api-audit.log',
    );
    // seedfork check, from this audit: what holds and what does not, with the evidence
    const check = await runCli(EXAMPLE, ['check', '--json']);
    rmSync('/tmp/todo-api-audit.log', { force: true });
    rmSync(join(EXAMPLE, '.cache'), { recursive: true, force: true });
    expect(check.code, check.out).toBe(1);
    const items = Object.fromEntries((JSON.parse(check.out) as CheckReport).items.map((i) => [i.id, i]));
    expect(items['max-workers']).toMatchObject({ status: 'fail', harmlessUnderIsolation: true });
    expect(items['max-workers']!.evidence.join('\n')).toMatch(/failed in shared: \d+ workers/);
    expect(items['alone-vs-suite']).toMatchObject({ status: 'fail', harmlessUnderIsolation: true });
    expect(items['scoped-resources']).toMatchObject({ status: 'fail', harmlessUnderIsolation: true });
    expect(items['scoped-resources']!.evidence).toContainEqual(
      expect.stringMatching(/^bind 127\.0\.0\.1:8080: /),
    );
    expect(items['scoped-resources']!.evidence).toContainEqual(
      expect.stringMatching(/^write table public\.todos: /),
    );
    expect(items['shard-balance']!.status).toBe('pass');
  });

  test('fails without isolation, because its files share rows, a port, a /tmp file and a disk cache', async () => {
    const shared = await seedfork(['run', '--isolation', 'none', '--workers', '4']);
    expect(shared.code, shared.out).toBe(1);
    expect(shared.out).toMatch(/failed/);
    const json = JSON.parse(readFileSync(join(EXAMPLE, '.seedfork/results.json'), 'utf8'));
    expect(json.isolation).toBe('none');
    expect(json.summary.filesFailed).toBeGreaterThan(0);
    // ...and the sandboxed run still passes afterwards: nothing the shared run left leaks in.
    expect((await seedfork(['run'])).code).toBe(0);
    rmSync('/tmp/todo-api-audit.log', { force: true });
    rmSync(join(EXAMPLE, '.cache'), { recursive: true, force: true });
  });
});
