import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditReport } from '../src/audit/types.js';
import {
  AUDIT_FIXTURE_SCRATCH,
  AUDIT_FIXTURE_SESSION,
  AUDIT_TRUTH,
  auditFixtureCopy,
  cleanUpAuditFixture,
} from './support/audit-fixture.js';
import { runCli, startCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

const seedfork = runCli;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const left0 = (audit: AuditReport, file: string) => audit.leftovers.find((l) => l.file === file)!;

const report = (dir: string): AuditReport =>
  JSON.parse(readFileSync(join(dir, '.seedfork/audit.json'), 'utf8'));

if (!isRoot) console.warn('skipping the audit tests: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot)('seedfork audit', () => {
  let before: HostState;
  const dirs: string[] = [];
  beforeAll(() => {
    rmSync(AUDIT_FIXTURE_SCRATCH, { force: true });
    before = hostState();
  });
  afterAll(async () => {
    for (const dir of dirs) cleanUpAuditFixture(dir);
    await expectHostClean(before);
    // the port test's server, left on the shared host, was found and stopped
    expect(await portFree(47123)).toBe(true);
  });

  // about 160 s on a 2-core machine (12 isolated runs of 14 files, then searches and reruns)
  test('classifies the fixture suite exactly as its ground truth, polluters and state-setter included', {
    timeout: 600_000,
  }, async () => {
    const dir = auditFixtureCopy('audit-fixture');
    dirs.push(dir);
    // 12 isolated runs: a test failing half of the time shows both outcomes with p = 1 - 2^-11.
    const r = await seedfork(dir, ['audit', '--repeat', '12']);
    expect(r.code, r.out).toBe(1);
    const audit = report(dir);
    const got = Object.fromEntries(audit.tests.map((t) => [`${t.file} > ${t.name}`, t.category]));
    const want = Object.fromEntries(Object.entries(AUDIT_TRUTH).map(([k, v]) => [k, v.category]));
    expect(got).toEqual(want);
    for (const [key, truth] of Object.entries(AUDIT_TRUTH)) {
      if (!truth.culprits) continue;
      const t = audit.tests.find((x) => `${x.file} > ${x.name}` === key)!;
      expect(t.search?.status, key).toBe('found');
      expect(
        t.search!.tests.map((c) => `${c.file} > ${c.name}`),
        key,
      ).toEqual(truth.culprits);
      expect(t.search!.kind).toBe(truth.category === 'brittle' ? 'state-setter' : 'polluter');
    }
    expect(audit.complete).toBe(true);
    // Conflicts: both sides named with the resource, the side that never failed a partner. The
    // port check binds 47123 for a moment only, so only its traced bind shows it.
    expect(
      audit.conflicts.map((c) => ({ files: c.files, description: c.description, partners: c.partners })),
    ).toEqual([
      {
        files: ['test/accounts-close.test.js', 'test/accounts-open.test.js'],
        description: 'both write table public.accounts',
        partners: ['test/accounts-close.test.js', 'test/accounts-open.test.js'],
      },
      {
        files: ['test/port-check.test.js', 'test/port.test.js'],
        description: 'both bind 127.0.0.1:47123',
        partners: ['test/port-check.test.js'],
      },
      {
        files: ['test/session-a.test.js', 'test/session-b.test.js'],
        description: `both write ${AUDIT_FIXTURE_SESSION}`,
        partners: ['test/session-a.test.js', 'test/session-b.test.js'],
      },
    ]);
    expect(r.out).toMatch(
      /3 conflicts[\s\S]*test\/port-check\.test\.js \(conflict partner: never failed\) and test\/port\.test\.js: both bind 127\.0\.0\.1:47123\n\s+fix: bind port 0/,
    );
    expect(left0(audit, 'test/port-check.test.js').binds).toEqual(['inet 127.0.0.1 47123']);
    // The console names every flaky test and its culprit, most severe first.
    expect(r.out).toMatch(
      /order-dependent\s+test\/cart-empty\.test\.js > starts with an empty cart[\s\S]*polluted by: test\/cart-add\.test\.js > adds an item/,
    );
    expect(r.out).toMatch(
      /brittle\s+test\/report\.test\.js > reads the schema[\s\S]*needs: test\/db-setup\.test\.js > creates the schema/,
    );
    expect(r.out.indexOf('non-deterministic ')).toBeLessThan(r.out.indexOf('order-dependent '));
    expect(r.out).toMatch(/8 flaky tests/);
    // Leftovers: what each file left in its sandbox.
    const left = Object.fromEntries(audit.leftovers.map((l) => [l.file, l]));
    expect(left['test/cart-add.test.js']!.files.created).toEqual([join(dir, 'data/cart.json')]);
    expect(left['test/tmpfile.test.js']!.files.created).toEqual([AUDIT_FIXTURE_SCRATCH]);
    expect(left['test/port.test.js']!.ports).toEqual([{ address: '127.0.0.1', port: 47123 }]);
    expect(left['test/port.test.js']!.processes).toHaveLength(1);
    expect(left['test/port.test.js']!.processes[0]!.command).toMatch(/listen\(47123/);
    expect(left['test/clean-math.test.js']).toMatchObject({
      files: { created: [], changed: [], deleted: [] },
      processes: [],
      ports: [],
    });
    expect(readFileSync(join(dir, '.seedfork/audit.html'), 'utf8')).toMatch(/<table id="tests">/);
    // seedfork check judges from this audit (same files, same config): the conflicts are a ✗
    const check = await seedfork(dir, ['check']);
    expect(check.code, check.out).toBe(1);
    expect(check.out).toMatch(/evidence: the audit at .*\.seedfork\/audit\.json/);
    expect(check.out).toMatch(
      /✗ ports, temp files and databases are scoped to a worker \(harmless under seedfork run[^\n]*\n\s+write table public\.accounts: test\/accounts-close\.test\.js, test\/accounts-open\.test\.js\n\s+bind 127\.0\.0\.1:47123: test\/port-check\.test\.js, test\/port\.test\.js\n\s+write \/tmp\/seedfork-fixture-session\.json: test\/session-a\.test\.js, test\/session-b\.test\.js/,
    );
    // the second shared run finds the port and the scratch file the first one left
    const maxWorkers = /✗ passes with max workers[^\n]*\n((?:\s{4}.*\n)+)/.exec(check.out)?.[1] ?? '';
    expect(maxWorkers).toMatch(/test\/port\.test\.js > serves on its port failed in shared: \d+ workers/);
    expect(maxWorkers).toMatch(
      /test\/tmpfile\.test\.js > writes its scratch file failed in shared: \d+ workers/,
    );
    expect(check.out).toMatch(/✓ artifacts of different files never land on one path/);
  });

  test('conflicts alone leave the exit code at 0, and fail the audit with --strict', async () => {
    const dir = auditFixtureCopy('audit-strict');
    dirs.push(dir);
    const args = ['audit', 'session', '--runs', 'repeat', '--repeat', '1'];
    const lenient = await seedfork(dir, args);
    expect(lenient.code, lenient.out).toBe(0);
    expect(lenient.out).toMatch(/1 conflict \(pairs[\s\S]*both write \/tmp\/seedfork-fixture-session\.json/);
    expect(lenient.out).toMatch(/nothing flaky/);
    const strict = await seedfork(dir, [...args, '--strict']);
    expect(strict.code, strict.out).toBe(1);
  });

  test('--quick: one isolated run, one reverse order, one shared run, no reruns, and it says what confidence that gives', async () => {
    const dir = auditFixtureCopy('audit-quick');
    dirs.push(dir);
    const r = await seedfork(dir, ['audit', 'cart', 'clean', '--quick']);
    const audit = report(dir);
    expect(
      audit.runs.map((run) => run.label),
      r.out,
    ).toEqual(['isolated #1', 'order: reverse', expect.stringMatching(/^shared: \d+ workers$/)]);
    // no adaptive reruns: each test ran alone once
    for (const t of audit.tests) expect(t.confidence?.isolatedRuns ?? 1, t.name).toBeLessThanOrEqual(1);
    expect(audit.notes.join('\n')).toMatch(/^quick audit: .* only 30% probability \(the full audit: 99%\)/m);
    expect(r.out).toMatch(/note: quick audit: one isolated run, one reverse order and one shared run/);
    expect(readFileSync(join(dir, '.seedfork/audit.html'), 'utf8')).toContain(
      'quick audit: one isolated run',
    );
  });

  test('--quick searches one victim at a time, probing each candidate file alone, and stops at its budget of plain runs', async () => {
    // z-polluter.test.js leaves a flag in the project that a-victim.test.js must not find: the
    // reverse order (z first) breaks the victim, each file alone passes
    const files: Record<string, string> = {
      'seedfork.config.mjs': `export default { test: { include: ['test/*.test.js'] } };\n`,
      'test/a-victim.test.js': `import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { existsSync } from 'node:fs';\ntest('finds no flag', () => assert.ok(!existsSync('polluted.flag')));\n`,
      'test/z-polluter.test.js': `import { test } from 'node:test';\nimport { writeFileSync } from 'node:fs';\ntest('leaves a flag', () => writeFileSync('polluted.flag', 'x'));\n`,
    };
    for (const name of ['m1', 'm2', 'm3'])
      files[`test/${name}-clean.test.js`] = `import { test } from 'node:test';\ntest('${name}', () => {});\n`;
    const dir = makeProject('audit-quick-search', files);
    dirs.push(dir);
    const victimOf = (audit: AuditReport) => audit.tests.find((t) => t.name === 'finds no flag')!;
    // the budget comes from the recorded timings: 10 s a file is ample here, 1 ms spent at once
    const recordTimings = (durationMs: number) => {
      const recorded = Object.fromEntries(
        Object.keys(files)
          .filter((f) => f.endsWith('.test.js'))
          .map((f) => [f, { durationMs, setupMs: 0, samples: 1, updatedAt: '2026-12-05T00:00:00Z' }]),
      );
      mkdirSync(join(dir, '.seedfork'), { recursive: true });
      writeFileSync(
        join(dir, '.seedfork/timings.json'),
        JSON.stringify({ version: 1, updatedAt: '2026-12-05T00:00:00Z', files: recorded }),
      );
    };
    recordTimings(10_000);
    const r = await seedfork(dir, ['audit', '--quick']);
    expect(r.code, r.out).toBe(1);
    const audit = report(dir);
    const victim = victimOf(audit);
    expect(victim.category).toBe('order-dependent');
    // named to the file, found by the lone probes (nearest the victim first, two side by side:
    // m1 and m2, then m3 and z), without reproducing the whole order first
    expect(victim.search).toMatchObject({ status: 'found', files: ['test/z-polluter.test.js'], tests: [] });
    expect(victim.search!.runs).toBe(4); // delta debugging would take 3: the order, then halves

    expect(audit.complete).toBe(true);
    // no reruns, so no note that they were cut short
    expect(audit.notes.join('\n')).not.toMatch(/isolated reruns stopped/);
    recordTimings(1);
    const spent = await seedfork(dir, ['audit', '--quick']);
    const cut = report(dir);
    expect(victimOf(cut).search).toMatchObject({ status: 'budget' });
    expect(victimOf(cut).search!.candidates).toContain('test/z-polluter.test.js');
    expect(cut.complete).toBe(false);
    expect(spent.out).toMatch(
      /stopped \(the quick audit's budget, 4 plain runs of about 0\.0 s with one kept for the shared run, was spent/,
    );
  });

  test('a search over budget says what it narrowed, and the partial report is kept', async () => {
    const dir = auditFixtureCopy('audit-budget');
    dirs.push(dir);
    const r = await seedfork(dir, [
      'audit',
      'cart',
      'clean',
      '--runs',
      'repeat,reverse',
      '--repeat',
      '1',
      '--max-runs',
      '1',
    ]);
    expect(r.code, r.out).toBe(1);
    const audit = report(dir);
    const victim = audit.tests.find((t) => t.name === 'starts with an empty cart')!;
    expect(victim.category).toBe('order-dependent');
    expect(victim.search).toMatchObject({ status: 'budget' });
    expect(victim.search!.candidates).toContain('test/cart-add.test.js');
    expect(audit.complete).toBe(false);
    expect(r.out).toMatch(
      /note: the polluter search for test\/cart-empty\.test\.js > starts with an empty cart stopped \(--max-runs 1 reached/,
    );
  });

  test('--timeout stops after the runs that fit and says which did not run', async () => {
    const dir = auditFixtureCopy('audit-timeout');
    dirs.push(dir);
    const r = await seedfork(dir, ['audit', 'clean', '--repeat', '5', '--timeout', '1']);
    const audit = report(dir);
    expect(audit.runs.length).toBeLessThan(5 + 3 + 2);
    expect(audit.complete).toBe(false);
    expect(audit.notes.join('\n')).toMatch(/--timeout reached: run ".*" and \d+ more not done/);
    expect(r.out).toMatch(/note: --timeout reached/);
  });

  test('Ctrl-C keeps the runs that finished in the JSON and HTML reports and removes every sandbox', async () => {
    const dir = auditFixtureCopy('audit-interrupt');
    dirs.push(dir);
    const cli = startCli(dir, ['audit', 'clean', 'cart', '--repeat', '50']);
    for (let i = 0; i < 600 && !/isolated #2:/.test(cli.output()); i++)
      await new Promise((r) => setTimeout(r, 100));
    cli.child.kill('SIGINT');
    expect(await cli.exited, cli.output()).toBe(130);
    expect(cli.output()).toMatch(/cancelled; every sandbox was removed/);
    const partial = report(dir);
    expect(partial.runs.length).toBeGreaterThanOrEqual(2);
    expect(partial.complete).toBe(false);
    expect(partial.notes.join(' ')).toMatch(/cancelled/);
    expect(partial.tests.length).toBeGreaterThan(0);
    expect(readFileSync(join(dir, '.seedfork/audit.html'), 'utf8')).toMatch(/incomplete/);
  });

  test('a suite with no test cases, or one that cannot seed, is a clear error', async () => {
    const empty = makeProject('audit-empty', {
      // A runner that finds no test in the file and says so in an empty JUnit report.
      'seedfork.config.mjs': `export default { test: { include: ['*.test.js'], runner: { command: "echo '<testsuites tests=\\"0\\"/>' > {junit} # {files}", junit: '{junit}' } } };\n`,
      'none.test.js': '// no tests here\n',
    });
    const r = await seedfork(empty, ['audit', '--runs', 'repeat', '--repeat', '1']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/no test case ran in any audit run/);
    const broken = makeProject('audit-broken', {
      'seedfork.config.mjs': `export default { seed: { steps: ['echo migrating; exit 3'] }, test: { include: ['*.test.js'] } };\n`,
      'a.test.js': `import { test } from 'node:test';\ntest('a', async () => {});\n`,
    });
    const b = await seedfork(broken, ['audit']);
    expect(b.code).toBe(2);
    expect(b.out).toMatch(/seed step 1.*exit(ed)? (with )?(code )?3/i);
  });
});
