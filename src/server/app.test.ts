import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HistoryStore, openHistory } from '../history/store.js';
import { createToken } from '../history/tokens.js';
import { historyApp } from './app.js';

const junit = (cases: number) =>
  `<testsuites><testsuite name="s">${Array.from({ length: cases }, (_, i) => `<testcase classname="a.test.js" name="t${i}" time="0.001"/>`).join('')}</testsuite></testsuites>`;

const BOMB = `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><testsuite name="s"><testcase name="&c;"/></testsuite>`;

describe('the history API refuses bad numbers, oversized uploads and entity bombs, naming why', () => {
  let dir = '';
  let store: HistoryStore;
  let token = '';
  let app: ReturnType<typeof historyApp>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seedfork-app-'));
    store = await openHistory(join(dir, 'history'));
    token = (await createToken(store, { scope: 'ingest', service: 'api' })).token;
    // small limits, so that the 413s need no large bodies
    app = historyApp(store, { regressionRuns: 2, uploadLimits: { reportBytes: 4096, tests: 20 } });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let builds = 0;
  const upload = (fields: Record<string, unknown>, xml = junit(2)) =>
    app.request('/api/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        service: 'api',
        build: `b${++builds}`,
        reports: [{ name: 'junit.xml', content: Buffer.from(xml).toString('base64') }],
        ...fields,
      }),
    });
  const errorOf = async (response: Response) => ((await response.json()) as { error: string }).error;

  test('attempt: 1e308, 2^53 + 1, a string, a fraction and 0 are 400 naming the field; 2 is stored', async () => {
    for (const attempt of [1e308, 2 ** 53 + 1, '1', 1.5, 0, -1]) {
      const answer = await upload({ attempt });
      expect(answer.status, String(attempt)).toBe(400);
      expect(await errorOf(answer)).toMatch(/^attempt must be a whole number from 1 to 2147483647, not /);
    }
    const stored = await upload({ attempt: 2 });
    expect(stored.status).toBe(200);
    expect(await stored.json()).toMatchObject({ stored: 'new', tests: 2 });
  });

  test('at: a time the database cannot hold is 400 naming the field', async () => {
    for (const at of ['+275760-09-13T00:00:00Z', '1600-01-01T00:00:00Z', 'soon']) {
      const answer = await upload({ at });
      expect(answer.status, at).toBe(400);
      expect(await errorOf(answer)).toMatch(/^at: ".*" is not an ISO-8601 time from 1970 to now/);
    }
    expect((await upload({ at: '2026-12-01T10:00:00Z' })).status).toBe(200);
  });

  test("since: a duration beyond the database's dates is 400 naming the field; 30d answers", async () => {
    const read = (since: string) =>
      app.request(`/api/v1/flaky?since=${since}`, { headers: { authorization: `Bearer ${token}` } });
    const answer = await read('99999999999999999d');
    expect(answer.status).toBe(400);
    expect(await errorOf(answer)).toMatch(/^since: .* is longer than the 100 years/);
    expect((await read('30d')).status).toBe(200);
  });

  test('queue numbers: leaseMs and costMs out of range are 400 naming the field', async () => {
    const join = (fields: Record<string, unknown>) =>
      app.request('/api/v1/queue/join', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          service: 'api',
          build: `q${++builds}`,
          job: 'j',
          secret: 's'.repeat(40),
          suiteId: 'x',
          files: [{ file: 'a.js', costMs: 10 }],
          leaseMs: 30_000,
          ...fields,
        }),
      });
    const lease = await join({ leaseMs: 2 ** 53 + 1 });
    expect(lease.status).toBe(400);
    expect(await errorOf(lease)).toMatch(/^leaseMs must be a whole number from 1000 to 3600000/);
    const cost = await join({ files: [{ file: 'a.js', costMs: 1e308 }] });
    expect(cost.status).toBe(400);
    expect(await errorOf(cost)).toMatch(/costMs from 0 to/);
    expect((await join({})).status).toBe(200);
  });

  test('a report over the size limit, or an upload over the test limit, is 413 naming the limit', async () => {
    const big = await upload({}, `${junit(2)}<!--${'x'.repeat(5000)}-->`);
    expect(big.status).toBe(413);
    expect(await errorOf(big)).toMatch(
      /^junit\.xml is 4\.\d MiB|^junit\.xml is [\d.]+ MiB, over the server's limit of 0 MiB per report/,
    );
    const many = await upload({}, junit(21));
    expect(many.status).toBe(413);
    expect(await errorOf(many)).toBe(
      "the upload has more than 20 test cases, the server's limit per upload: split the job's reports into several ingests",
    );
    // the control: at the limit
    expect((await upload({}, junit(20))).status).toBe(200);
  });

  test('a body over the server limit is 413 before it is read', async () => {
    const answer = await app.request('/api/v1/runs', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'content-length': String(300 * 1024 ** 2),
      },
      body: '{}',
    });
    expect(answer.status).toBe(413);
    expect(await errorOf(answer)).toMatch(/^the request body is over the server's limit of 256 MiB/);
  });

  test('an entity bomb (billion laughs) is refused, not stored unexpanded', async () => {
    const answer = await upload({}, BOMB);
    expect(answer.status).toBe(400);
    expect(await errorOf(answer)).toMatch(/declares XML entities \(<!ENTITY>\): refused/);
  });
});
