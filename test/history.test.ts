import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openHistory } from '../src/history/store.js';
import { joinQueue, nextFile, queueStatus } from '../src/server/queue/broker.js';
import { runCli } from './support/cli.js';
import { runCommand } from './support/command.js';
import { isRoot } from './support/host.js';
import { type HostPostgres, startHostPostgres } from './support/postgres.js';
import { makeProject, REPO } from './support/project.js';

const SAMPLES = join(REPO, 'test/fixtures/junit');

interface FlakyJson {
  service: string;
  file: string;
  name: string;
  runs: number;
  failures: number;
  flakyRuns: number;
  status: string;
}

async function flaky(dir: string, args: string[] = []): Promise<FlakyJson[]> {
  const r = await runCli(dir, ['flaky', '--since', '3650d', '--json', ...args]);
  expect(r.code, r.out).toBe(0);
  return JSON.parse(r.out) as FlakyJson[];
}

/** The verdict on the samples' failing test. */
const subtracts = async (dir: string) => (await flaky(dir)).find((v) => /subtracts/.test(v.name));

describe('seedfork ingest and flaky, embedded store', () => {
  test('JUnit XML from every runner is read: a pass and a failure each, Surefire reruns as flaky', async () => {
    const dir = makeProject('history-samples', { '.keep': '' });
    for (const sample of readdirSync(SAMPLES).filter((f) => f.endsWith('.xml'))) {
      const r = await runCli(dir, [
        'ingest',
        join(SAMPLES, sample),
        '--service',
        sample.replace('.xml', ''),
        '--build',
        '1',
      ]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/stored \d+ test result\(s\), 1 failed/);
    }
    const verdicts = await flaky(dir, ['--all']);
    const services = new Set(verdicts.map((v) => v.service));
    expect([...services].sort()).toEqual([
      'go-junit-report',
      'jest-junit',
      'mocha-junit-reporter',
      'node-test',
      'playwright',
      'pytest',
      'surefire',
      'vitest',
    ]);
    for (const service of services) {
      const names = verdicts.filter((v) => v.service === service).map((v) => v.name);
      expect(
        names.some((n) => /adds|TestAdds/.test(n)),
        `${service}: ${names}`,
      ).toBe(true);
      expect(
        names.some((n) => /subtracts|TestSubtracts/.test(n)),
        `${service}: ${names}`,
      ).toBe(true);
    }
    // Surefire: `settles` passed on a rerun inside the job: flaky from one run
    const settles = verdicts.find((v) => v.service === 'surefire' && v.name.endsWith('settles'));
    expect(settles).toMatchObject({ status: 'flaky', runs: 1, flakyRuns: 1 });
    rmSync(dir, { recursive: true, force: true });
  });

  test('ingest is idempotent, refuses other reports for the same job unless --replace, and --gate fails on failures', async () => {
    const dir = makeProject('history-idempotent', { '.keep': '' });
    const sample = join(SAMPLES, 'pytest.xml');
    const passing = join(dir, 'passing.xml');
    writeFileSync(passing, readFileSync(sample, 'utf8').replace(/<failure[\s\S]*?<\/failure>/, ''));
    const job = ['--service', 'api', '--build', '7', '--commit', 'abc', '--branch', 'main'];
    expect((await runCli(dir, ['ingest', sample, ...job])).out).toMatch(
      /stored 2 test result\(s\), 1 failed/,
    );
    expect((await runCli(dir, ['ingest', sample, ...job])).out).toMatch(/already in the history/);
    const other = await runCli(dir, ['ingest', passing, ...job]);
    expect(other.code).toBe(2);
    expect(other.out).toMatch(/ingested before with other reports; pass --replace/);
    expect(await subtracts(dir)).toMatchObject({ runs: 1, failures: 1 });
    // the job's rerun on the same commit passed: flaky
    const gate = await runCli(dir, ['ingest', passing, ...job, '--attempt', '2', '--gate']);
    expect(gate.code, gate.out).toBe(0);
    expect(await subtracts(dir)).toMatchObject({ status: 'flaky', runs: 2, failures: 1, flakyRuns: 1 });
    const failing = await runCli(dir, ['ingest', sample, ...job, '--attempt', '3', '--gate']);
    expect(failing.code).toBe(1);
    expect(failing.out).toMatch(/failed: .*subtracts/);
    // --replace swaps attempt 3 for the passing report
    expect((await runCli(dir, ['ingest', passing, ...job, '--attempt', '3', '--replace'])).out).toMatch(
      /replaced 2/,
    );
    expect(await subtracts(dir)).toMatchObject({ runs: 3, failures: 1 });
    rmSync(dir, { recursive: true, force: true });
  });

  test('a run takes its time from --at, else the report, and --since windows on it', async () => {
    const dir = makeProject('history-time', { '.keep': '' });
    const sample = join(SAMPLES, 'surefire.xml'); // timestamp 2026-11-24T02:14:09
    await runCli(dir, ['ingest', sample, '--service', 'a', '--build', '1']);
    await runCli(dir, ['ingest', sample, '--service', 'b', '--build', '1', '--at', '2020-01-01T00:00:00Z']);
    const recent = await runCli(dir, [
      'flaky',
      '--since',
      `${Math.ceil((Date.now() - Date.UTC(2026, 10, 20)) / 86_400_000)}d`,
      '--json',
    ]);
    const services = new Set((JSON.parse(recent.out) as FlakyJson[]).map((v) => v.service));
    expect([...services]).toEqual(['a']);
    const bad = await runCli(dir, ['ingest', sample, '--service', 'c', '--build', '1', '--at', 'yesterday']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/ISO-8601/);
    expect((await runCli(dir, ['flaky', '--since', 'a month'])).out).toMatch(/not a duration/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('prune drops runs older than N days, with their results and rollup, and keeps the rest', async () => {
    const dir = makeProject('history-prune', { '.keep': '' });
    const sample = join(SAMPLES, 'pytest.xml');
    const old = new Date(Date.now() - 100 * 86_400_000).toISOString();
    expect(
      (await runCli(dir, ['ingest', sample, '--service', 'a', '--build', 'old', '--at', old])).code,
    ).toBe(0);
    expect((await runCli(dir, ['ingest', sample, '--service', 'a', '--build', 'new'])).code).toBe(0);
    expect(await subtracts(dir)).toMatchObject({ runs: 2, failures: 2 });
    const pruned = await runCli(dir, ['prune', '--older-than', '30']);
    expect(pruned.out).toMatch(/dropped 1 run\(s\), 2 result\(s\) older than 30 days/);
    expect(await subtracts(dir)).toMatchObject({ runs: 1, failures: 1 });
    expect((await flaky(dir)).find((v) => /adds/.test(v.name))).toMatchObject({ runs: 1 });
    expect((await runCli(dir, ['prune', '--older-than', 'soon'])).code).not.toBe(0);
  });

  test('hostile and malformed reports are refused with the reason, and nothing of them is stored', async () => {
    const dir = makeProject('history-bad', { '.keep': '' });
    const bomb = `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]><testsuite name="s"><testcase name="&g;"/></testsuite>`;
    const files: Record<string, string | Buffer> = {
      'external.xml': `<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite name="s"><testcase name="&x;"/></testsuite>`,
      'deep.xml': `${'<testsuite name="s">'.repeat(50_000)}<testcase name="t"/>${'</testsuite>'.repeat(50_000)}`,
      'latin1.xml': Buffer.from([
        ...Buffer.from('<testsuite name="caf'),
        0xe9,
        ...Buffer.from('"><testcase name="t"/></testsuite>'),
      ]),
      'notxml.txt': 'hello',
      'truncated.xml': '<testsuite name="s"><testcase name="t">',
      'other.json': '{"tests": []}',
    };
    files['bomb.xml'] = bomb;
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    // each bad file comes with a good one: the whole ingest is refused, nothing half stored
    writeFileSync(join(dir, 'pytest-ok.xml'), readFileSync(join(SAMPLES, 'pytest.xml')));
    // 200 MB, sparse: refused by size before a byte is read
    const big = openSync(join(dir, 'big.xml'), 'w');
    closeSync(big);
    execFileSync('truncate', ['-s', '200M', join(dir, 'big.xml')]);
    const expected: Record<string, RegExp> = {
      'external.xml': /declares XML entities \(<!ENTITY>\): refused/,
      'bomb.xml': /declares XML entities \(<!ENTITY>\): refused/,
      'deep.xml': /nested tags/i,
      'latin1.xml': /not UTF-8/,
      'notxml.txt': /neither JUnit XML nor seedfork/,
      'truncated.xml': /malformed JUnit XML/,
      'other.json': /not seedfork's results/,
      'big.xml': /200 MiB: reports over 64 MiB are refused/,
    };
    for (const [name, why] of Object.entries(expected)) {
      const r = await runCli(dir, [
        'ingest',
        join(dir, 'pytest-ok.xml'),
        join(dir, name),
        '--service',
        's',
        '--build',
        name,
      ]);
      expect(r.code, `${name}: ${r.out}`).toBe(2);
      expect(r.out, name).toMatch(why);
    }
    // the control: the good report alone is stored, and it is all the history has
    const r = await runCli(dir, ['ingest', join(dir, 'pytest-ok.xml'), '--service', 'ok', '--build', '1']);
    expect(r.code, r.out).toBe(0);
    expect(new Set((await flaky(dir, ['--all'])).map((v) => v.service))).toEqual(new Set(['ok']));
    rmSync(dir, { recursive: true, force: true });
  });

  test('concurrent ingests into one embedded store all land; a lock left by a dead process is taken over; a corrupt store is named', async () => {
    const dir = makeProject('history-concurrent', { '.keep': '' });
    const sample = join(SAMPLES, 'vitest.xml');
    const jobs = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) =>
        runCli(dir, ['ingest', sample, '--service', 'api', '--build', String(n)]),
      ),
    );
    for (const job of jobs) expect(job.code, job.out).toBe(0);
    expect((await flaky(dir))[0]).toMatchObject({ runs: 8 });
    // a lock file naming a process that is gone
    writeFileSync(join(dir, '.seedfork/history.lock'), '999999999');
    expect((await runCli(dir, ['ingest', sample, '--service', 'api', '--build', '5'])).code).toBe(0);
    // a store that is not one
    const corrupt = join(dir, 'corrupt');
    execFileSync('mkdir', ['-p', corrupt]);
    writeFileSync(join(corrupt, 'PG_VERSION'), 'garbage\n');
    writeFileSync(join(corrupt, 'postgresql.conf'), '\0\0\0');
    const r = await runCli(dir, ['flaky', '--db', corrupt]);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(/cannot be opened .*may be corrupt|cannot be brought up to date/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('the history demo (npm run demo:history)', () => {
  test('six weeks of five services: flaky finds the broken, fixed and flaky tests, correlate the nightly ledger-db cluster', async () => {
    const demo = await runCommand(process.execPath, [join(REPO, 'examples/history-demo/demo.mjs')], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(demo.code, demo.stderr).toBe(0);
    const out = demo.stdout;
    expect(out).toMatch(/broken .*billing > applies refunds {2}broken since build \d+ \(\w+\), 2026-11-10/);
    expect(out).toMatch(/fixed .*orders > computes totals {2}fixed in build/);
    for (const t of [
      'mail > sends the digest',
      'search > indexes',
      'search > reindexes',
      'invoices > reads the ledger',
    ]) {
      expect(out).toMatch(new RegExp(`flaky .*${t}`));
    }
    expect(out).toMatch(/5 healthy/);
    expect(out).toMatch(
      /cluster 1: 3 tests in billing, invoices, orders, shared dependency ledger-db \(3 of 3 services\), failing mostly 02:00-03:00 UTC/,
    );
    expect(out).toMatch(/cluster 2: 2 tests in search/);
    expect(out).not.toMatch(/cluster 3/);
  });
});

if (!isRoot)
  console.warn('skipping the PostgreSQL history test: starting a cluster as the postgres user needs root');

describe.skipIf(!isRoot)('seedfork ingest and flaky, PostgreSQL store', () => {
  let server: HostPostgres | undefined;
  let url = '';

  beforeAll(() => {
    server = startHostPostgres();
    url = server.url;
  });

  afterAll(() => server?.stop());

  test('the same ingest and verdicts against a real PostgreSQL (--db and SEEDFORK_DB)', async () => {
    const dir = makeProject('history-postgres', { '.keep': '' });
    const sample = join(SAMPLES, 'jest-junit.xml');
    const passing = join(dir, 'passing.xml');
    writeFileSync(passing, readFileSync(sample, 'utf8').replace(/<failure[\s\S]*?<\/failure>/, ''));
    const jobs = await Promise.all(
      [1, 2, 3].map((n) =>
        runCli(dir, [
          'ingest',
          n === 2 ? passing : sample,
          '--service',
          'api',
          '--build',
          String(n),
          '--commit',
          'c1',
          '--db',
          url,
        ]),
      ),
    );
    for (const job of jobs) expect(job.code, job.out).toBe(0);
    expect(
      (
        await runCli(dir, [
          'ingest',
          sample,
          '--service',
          'api',
          '--build',
          '1',
          '--commit',
          'c1',
          '--db',
          url,
        ])
      ).out,
    ).toMatch(/already in the history/);
    const r = await runCli(dir, ['flaky', '--since', '3650d', '--json'], { SEEDFORK_DB: url });
    const verdicts = JSON.parse(r.out) as FlakyJson[];
    expect(verdicts.find((v) => /subtracts/.test(v.name))).toMatchObject({
      status: 'flaky',
      runs: 3,
      failures: 2,
    });
    // nothing embedded was made: it all went to PostgreSQL
    expect(readdirSync(dir)).not.toContain('.seedfork');
    const down = await runCli(dir, ['flaky', '--db', 'postgres://postgres@127.0.0.1:1/none']);
    expect(down.code).toBe(2);
    expect(down.out).toMatch(/cannot reach the history database postgres:\/\/postgres@127.0.0.1:1\/none/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("queue mode's broker on PostgreSQL: 8 jobs racing for 60 files get each file exactly once", async () => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => openHistory(url)));
    try {
      const files = Array.from({ length: 60 }, (_, i) => ({ file: `f${i}.test.js`, costMs: 1000 - i }));
      const call = (job: number) => ({
        service: 'race',
        build: `b-${process.pid}`,
        job: `j${job}`,
        secret: `secret-of-job-${job}`.padEnd(32, '-'),
      });
      // every job joins at once (the first creates the queue; the others wait on its row)
      await Promise.all(
        stores.map((store, j) => joinQueue(store, { ...call(j), suiteId: 's', files, leaseMs: 60_000 })),
      );
      const taken: string[][] = stores.map(() => []);
      await Promise.all(
        stores.map(async (store, j) => {
          let finished: string[] = [];
          for (;;) {
            const answer = await nextFile(store, { ...call(j), finished });
            if ('done' in answer) return;
            if ('waitMs' in answer) {
              finished = [];
              await new Promise((done) => setTimeout(done, 20));
              continue;
            }
            taken[j]!.push(answer.file);
            finished = [answer.file];
          }
        }),
      );
      const all = taken.flat();
      expect(all).toHaveLength(60);
      expect(new Set(all).size).toBe(60);
      expect(taken.filter((t) => t.length > 0).length).toBeGreaterThan(1); // they really raced
      const status = await queueStatus(stores[0]!, 'race', `b-${process.pid}`);
      expect(status).toMatchObject({ files: 60, done: 60, handedAgain: [] });
      expect(status!.jobs.every((j) => j.state === 'complete')).toBe(true);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
