import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditReport } from '../src/audit/types.js';
import { readJUnit } from '../src/report/junit-read.js';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

/**
 * Each fixture under test/fixtures/runners/ is a small project for one real runner (installed
 * from the npm registry or Debian's archive) with the same shape: a `ledger` file with a
 * passing, a failing, a skipped, a flaky (fails on SEEDFORK_ATTEMPT 1) and a polluting test,
 * and an `audit log` file whose `starts closed` test fails after the polluter in one sandbox.
 */
interface Fixture {
  runner: string;
  ledger: string;
  auditLog: string;
  /** Full names of the ledger's tests: pass, fail, skip, flaky, polluter. */
  names: [string, string, string, string, string];
  victim: string;
}

/** The ledger's test names in the runners that nest tests in `describe` blocks (Jest, Mocha, Playwright). */
const DESCRIBE_NAMES: Fixture['names'] = [
  'ledger > adds entries',
  'ledger > rejects overdrafts',
  'ledger > exports to csv',
  'ledger > settles on a retry',
  'ledger > opens the shared ledger',
];

const FIXTURES: Fixture[] = [
  {
    runner: 'jest',
    ledger: 'test/ledger.test.js',
    auditLog: 'test/audit-log.test.js',
    names: DESCRIBE_NAMES,
    victim: 'audit log > starts closed',
  },
  {
    runner: 'mocha',
    ledger: 'test/ledger.spec.js',
    auditLog: 'test/audit-log.spec.js',
    names: DESCRIBE_NAMES,
    victim: 'audit log > starts closed',
  },
  {
    runner: 'pytest',
    ledger: 'tests/test_ledger.py',
    auditLog: 'tests/test_audit_log.py',
    names: [
      'TestLedger > test_adds_entries',
      'TestLedger > test_rejects_overdrafts',
      'TestLedger > test_exports_to_csv',
      'TestLedger > test_settles_on_a_retry',
      'TestLedger > test_opens_the_ledger[shared]',
    ],
    victim: 'test_starts_closed',
  },
  {
    runner: 'go',
    ledger: 'ledger',
    auditLog: 'auditlog',
    names: [
      'TestAddsEntries',
      'TestRejectsOverdrafts',
      'TestExportsToCsv',
      'TestSettlesOnARetry',
      'TestOpensTheLedger',
    ],
    victim: 'TestStartsClosed',
  },
  {
    runner: 'playwright',
    ledger: 'tests/ledger.spec.js',
    auditLog: 'tests/audit-log.spec.js',
    names: DESCRIBE_NAMES,
    victim: 'audit log > starts closed',
  },
];

/** A fresh copy of a fixture under test-output/ (sandboxes see the repository's node_modules from there). */
function fixtureCopy(runner: string): string {
  const dir = join(REPO, 'test-output', 'projects', `runner-${runner}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(REPO, 'test/fixtures/runners', runner), dir, { recursive: true });
  return dir;
}

if (!isRoot) console.warn('skipping the runner adapter tests: sandboxes need root (run the suite as root)');

describe.skipIf(!isRoot).each(FIXTURES)('the $runner adapter on a real $runner project', (fx) => {
  let before: HostState;
  let dir: string;
  beforeAll(() => {
    before = hostState();
    dir = fixtureCopy(fx.runner);
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('run --retries 2: per-test results, a flaky test with Surefire flakyFailure, JUnit XML', async () => {
    const r = await runCli(dir, ['run', '--retries', '2', '--junit', 'junit.xml']);
    expect(r.code, r.out).toBe(1);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    const ledger = result.files.find((f) => f.file === fx.ledger)!;
    expect(ledger, r.out).toBeDefined();
    expect(ledger).toMatchObject({ status: 'failed', attempts: 3 });
    const [pass, fail, skip, flaky, polluter] = fx.names;
    const status = Object.fromEntries(ledger.tests.map((t) => [t.name, t.status]));
    expect(status).toEqual({
      [pass]: 'passed',
      [fail]: 'failed',
      [skip]: 'skipped',
      [flaky]: 'flaky',
      [polluter]: 'passed',
    });
    const failed = ledger.tests.find((t) => t.name === fail)!;
    expect(failed.message).toMatch(/balance|expect|Expected|toHaveText/);
    expect(failed.message).not.toContain(String.fromCharCode(27));
    expect(failed.rerunFailures).toHaveLength(2);
    expect(ledger.tests.find((t) => t.name === flaky)!.flakyFailures).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/first attempt fails/) }),
    ]);
    const auditLog = result.files.find((f) => f.file === fx.auditLog)!;
    expect(auditLog.status, auditLog.output).toBe('passed');
    expect(auditLog.tests.map((t) => t.name)).toContain(fx.victim);
    expect(result.summary).toMatchObject({ filesFailed: 1, failed: 1, skipped: 1, flaky: 1 });
    if (fx.runner === 'playwright') {
      // The failing test's screenshot (playwright.config: screenshot 'only-on-failure') is an
      // artifact, copied out of the sandbox per attempt.
      const shots = (ledger.artifacts ?? []).filter((p) => p.endsWith('.png'));
      const base = join(dir, '.seedfork/artifacts', fx.ledger);
      expect(
        shots.some((p) => p.startsWith(join(base, 'test-results'))),
        JSON.stringify(shots),
      ).toBe(true);
      expect(shots.some((p) => p.startsWith(join(base, 'attempt-3', 'test-results')))).toBe(true);
      expect(readFileSync(shots[0]!).subarray(1, 4).toString()).toBe('PNG');
    }
    const xml = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(xml).toMatch(/<flakyFailure /);
    expect(xml).toMatch(/<rerunFailure /);
    expect(readJUnit(xml).length).toBe(result.summary.tests);
  });

  test('init (config deleted) writes a config that gives the same per-test results', async () => {
    const statuses = () => {
      const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
      return result.files.flatMap((f) => f.tests.map((t) => `${f.file} > ${t.name}: ${t.status}`)).sort();
    };
    const handWritten = statuses();
    rmSync(join(dir, 'seedfork.config.mjs'));
    const init = await runCli(dir, ['init']);
    expect(init.code, init.out).toBe(0);
    expect(init.out).toContain(`runner: ${fx.runner}`);
    const r = await runCli(dir, ['run', '--retries', '2']);
    expect(r.code, r.out).toBe(1);
    expect(statuses()).toEqual(handWritten);
    rmSync(join(dir, 'seedfork.config.ts'));
    cpSync(
      join(REPO, 'test/fixtures/runners', fx.runner, 'seedfork.config.mjs'),
      join(dir, 'seedfork.config.mjs'),
    );
  });

  // a Playwright file takes seconds, and the search runs several in a row: minutes on 2 cores
  test('audit: the victim is order-dependent and its polluter is named to the test case', {
    timeout: 400_000,
  }, async () => {
    // the class and the culprit are what is checked here, not the 99% reruns (4 at most)
    const r = await runCli(dir, ['audit', '--runs', 'repeat,reverse', '--repeat', '1', '--max-reruns', '4']);
    expect(r.code, r.out).toBe(1);
    const audit: AuditReport = JSON.parse(readFileSync(join(dir, '.seedfork/audit.json'), 'utf8'));
    const victim = audit.tests.find((t) => t.file === fx.auditLog && t.name === fx.victim)!;
    expect(victim, r.out).toBeDefined();
    expect(victim.category, r.out).toBe('order-dependent');
    expect(victim.search?.status, r.out).toBe('found');
    expect(victim.search!.tests.map((c) => `${c.file} > ${c.name}`)).toEqual([
      `${fx.ledger} > ${fx.names[4]}`,
    ]);
    const pass = audit.tests.find((t) => t.file === fx.ledger && t.name === fx.names[0])!;
    expect(pass.category).toBe('stable-pass');
  });
});
