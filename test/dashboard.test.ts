import { existsSync, mkdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { chromium } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { ingest } from '../src/history/ingest.js';
import { parseReport } from '../src/history/read-report.js';
import { openHistory } from '../src/history/store.js';
import { runCli, startCli } from './support/cli.js';
import { startHistoryServer } from './support/history-server.js';
import { makeProject, REPO } from './support/project.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) {
  console.warn(
    'skipping the dashboard test: no chromium (apt-get install chromium, or ./scripts/setup.sh --test)',
  );
}
const SHOTS = join(REPO, 'test-output', 'dashboard');

const DAY = 86_400_000;
/** Day 0 of the generated history: five days before today, at 00:00 UTC (all of it past). */
const DAY0 = Math.floor(Date.now() / DAY) * DAY - 5 * DAY;

/** One job's outcome per test: true passed, false failed, 'retry' passed after a failed attempt. */
type Outcome = boolean | 'retry';

/** The known history: two services, five days, two builds a day at 02:30 and 14:00 UTC. */
function jobs(): { service: string; build: string; at: number; results: Record<string, Outcome> }[] {
  const list: { service: string; build: string; at: number; results: Record<string, Outcome> }[] = [];
  let build = 0;
  for (let day = 0; day < 5; day++) {
    for (const hour of [2.5, 14]) {
      build++;
      const at = DAY0 + day * DAY + hour * 3_600_000;
      // api and web fail together in the small hours of days 0, 1, 3 (a shared dependency)
      const night = hour < 3 && day !== 2 && day !== 4;
      list.push({
        service: 'api',
        build: String(build),
        at,
        results: {
          'stays green': true,
          'talks to the ledger': !night,
          // broken from build 6 on (day 2, 14:00)
          'applies refunds': build < 6,
          'retries a flake': build === 4 ? 'retry' : true,
        },
      });
      list.push({
        service: 'web',
        build: String(build),
        at: at + 60_000,
        results: { renders: true, 'reads the ledger': !night },
      });
    }
  }
  return list;
}

function junit(service: string, build: string, results: Record<string, Outcome>): Buffer {
  const cases = Object.entries(results).map(([name, outcome]) => {
    const attrs = `classname="${service}.spec" name="${name}" time="0.01"`;
    if (outcome === true) return `<testcase ${attrs}/>`;
    if (outcome === 'retry') return `<testcase ${attrs}><flakyFailure message="timeout"/></testcase>`;
    return `<testcase ${attrs}><failure message="expected 200, got 503 after ${build}0 ms">boom</failure></testcase>`;
  });
  return Buffer.from(`<?xml version="1.0"?><testsuite name="${service}">${cases.join('')}</testsuite>`);
}

/** The trend the overview must plot, worked out from the jobs: per service and day, the share of
 * its results that failed or were retried, the broken test left out. */
function expectedTrend(): { days: number[]; series: { service: string; rates: number[] }[] } {
  const days = [0, 1, 2, 3, 4].map((d) => (DAY0 + d * DAY) / 1000);
  const series = ['api', 'web'].map((service) => ({
    service,
    rates: days.map((day) => {
      let runs = 0;
      let troubled = 0;
      for (const job of jobs().filter(
        (j) => j.service === service && Math.floor(j.at / DAY) * DAY === day * 1000,
      )) {
        for (const [name, outcome] of Object.entries(job.results)) {
          if (name === 'applies refunds') continue;
          runs++;
          if (outcome !== true) troubled++;
        }
      }
      return troubled / runs;
    }),
  }));
  return { days, series };
}

describe.skipIf(!CHROMIUM)('the dashboard in headless Chromium', () => {
  test('each page renders its data, the trend plots the history, quarantine and retention need an admin token', async () => {
    const dir = makeProject('dashboard', { '.keep': '' });
    mkdirSync(SHOTS, { recursive: true });
    const store = await openHistory(join(dir, '.seedfork', 'history'));
    try {
      for (const job of jobs()) {
        await ingest(store, {
          service: job.service,
          build: job.build,
          attempt: 1,
          commit: `c${job.build}`,
          branch: 'main',
          at: job.at,
          dependsOn: ['ledger'],
          reports: [
            parseReport(`${job.service}-${job.build}.xml`, junit(job.service, job.build, job.results)),
          ],
        });
      }
    } finally {
      await store.close();
    }
    const token = async (args: string[]) =>
      (await runCli(dir, ['token', 'create', ...args])).out.split('\n')[0]!.trim();
    const ingestToken = await token(['--service', 'api']);
    const admin = await token(['--admin']);
    expect(admin).toMatch(/^sft_/);

    const { server, url } = await startHistoryServer(dir);
    expect(url, server.output()).not.toBe('');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // the refusals below answer 401 and 403, which Chromium logs: anything else is an error
      page.on('console', (message) => {
        const text = message.text();
        if (message.type() === 'error' && !/status of 40[13] /.test(text)) errors.push(text);
      });
      const verdicts = (await (await fetch(`${url}/api/v1/flaky?since=30d`)).json()) as {
        id: number;
        service: string;
        name: string;
        status: string;
      }[];

      // overview: services ranked by flaky tests, with the counts the API gives
      await page.goto(`${url}/?since=30d`);
      const rows = await page.$$eval('#services tbody tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())),
      );
      const count = (service: string, status: string) =>
        String(verdicts.filter((v) => v.service === service && v.status === status).length);
      expect(rows.map((r) => r[0])).toEqual(['api', 'web']);
      for (const row of rows) {
        expect(row.slice(2, 4), row[0]).toEqual([count(row[0]!, 'flaky'), count(row[0]!, 'broken')]);
      }
      expect(count('api', 'broken')).toBe('1');
      // the chart plots exactly the history's daily rates
      const plotted = await page.evaluate(() => {
        const chart = (
          window as unknown as {
            seedforkCharts: { trend: { data: number[][]; series: { label?: string }[] } };
          }
        ).seedforkCharts.trend;
        return { data: chart.data, labels: chart.series.slice(1).map((s) => s.label) };
      });
      const expected = expectedTrend();
      expect(plotted.labels).toEqual(['api', 'web']);
      expect(plotted.data[0]).toEqual(expected.days);
      for (const [i, s] of expected.series.entries()) {
        expect(plotted.data[i + 1]!.length, s.service).toBe(s.rates.length);
        for (const [d, rate] of plotted.data[i + 1]!.entries()) {
          expect(rate, `${s.service} day ${d}`).toBeCloseTo(s.rates[d]!, 9);
        }
      }
      expect(await page.locator('#trend canvas').count()).toBe(1);
      await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });

      // a test's page: its history strip, run by run, and its failures grouped
      const refunds = verdicts.find((v) => v.name === 'api > applies refunds')!;
      await page.click(`a[href^="/tests/${refunds.id}?"]`);
      expect(await page.textContent('#verdict')).toBe('broken');
      expect(
        await page.$$eval('#strip span', (spans) => spans.map((s) => s.getAttribute('data-status'))),
      ).toEqual(
        jobs()
          .filter((j) => j.service === 'api')
          .map((j) => (j.results['applies refunds'] ? 'passed' : 'failed')),
      );
      // "got 503 after N ms" with a different N each build: one group
      expect(
        await page.$$eval('#failures tbody tr', (trs) =>
          trs.map((tr) => tr.querySelector('td')?.textContent),
        ),
      ).toEqual(['5']);
      await page.screenshot({ path: join(SHOTS, 'test.png'), fullPage: true });

      // clusters: api and web's ledger tests fail together at night
      await page.goto(`${url}/clusters?since=30d`);
      const cluster = await page.textContent('section.cluster');
      expect(cluster).toMatch(/api, web/);
      expect(cluster).toMatch(/shared dependency ledger/);
      expect(cluster).toMatch(/failures at 02:00-03:00 UTC/);
      await page.screenshot({ path: join(SHOTS, 'clusters.png'), fullPage: true });

      // quarantine: refused without a token and with an ingest token, done with an admin token
      await page.goto(`${url}/quarantine`);
      const add = async (withToken: string) => {
        await page.fill('#add input[name=pattern]', '*refunds*');
        await page.fill('#add input[name=reason]', 'waiting for the ledger fix');
        await page.fill('#add input[name=service]', 'api');
        await page.fill('#add input[name=token]', withToken);
        await page.click('#add button');
      };
      await add('sft_forged');
      expect(await page.textContent('#message')).toMatch(/valid admin token is needed/);
      await add(ingestToken);
      expect(await page.textContent('#message')).toMatch(/needs an admin token/);
      expect(await page.locator('#quarantine tbody tr').count()).toBe(0);
      await add(admin);
      expect(await page.textContent('#message')).toMatch(/Quarantined \*refunds\*/);
      expect(
        await page.$$eval('#quarantine tbody tr td:nth-child(3)', (tds) => tds.map((td) => td.textContent)),
      ).toEqual(['*refunds*']);
      await page.screenshot({ path: join(SHOTS, 'quarantine.png'), fullPage: true });
      await page.goto(`${url}/?since=30d`);
      expect(
        (await page.$$eval('#services tbody tr', (trs) => trs.map((tr) => tr.children[5]?.textContent)))[0],
      ).toBe('1');
      await page.goto(`${url}/quarantine`);
      await page.fill('#quarantine tbody tr input[name=token]', ingestToken);
      await page.click('#quarantine tbody tr button');
      expect(await page.textContent('#message')).toMatch(/needs an admin token/);
      await page.fill('#quarantine tbody tr input[name=token]', admin);
      await page.click('#quarantine tbody tr button');
      expect(await page.textContent('#message')).toMatch(/Released #\d+/);
      expect(await page.locator('#quarantine tbody tr').count()).toBe(0);

      // retention: the two oldest days go
      await page.fill('#retention input[name=days]', '3');
      await page.fill('#retention input[name=token]', admin);
      await page.click('#retention button');
      expect(await page.textContent('#message')).toMatch(/Dropped 8 runs \(24 results\) older than 3 days/);
      await page.goto(`${url}/?since=30d`);
      expect(
        await page.evaluate(
          () =>
            (window as unknown as { seedforkCharts: { trend: { data: number[][] } } }).seedforkCharts.trend
              .data[0],
        ),
      ).toEqual(expectedTrend().days.slice(2));

      // the filters: one service, a branch nothing ran on
      await page.goto(`${url}/?since=30d&service=web`);
      expect(
        await page.$$eval('#services tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-service'))),
      ).toEqual(['web']);
      await page.goto(`${url}/?since=30d&branch=release`);
      expect(await page.locator('#services tbody tr').count()).toBe(0);
      expect(errors).toEqual([]);

      // the export: the API's verdicts as CSV
      const csv = await (await fetch(`${url}/api/v1/flaky.csv?since=30d`)).text();
      expect(csv.split('\r\n')[0]).toBe(
        'service,file,name,status,runs,failures,flakyRuns,flakeRate,firstFlakyAt,lastFailureAt,audit',
      );
      const exported = parseCsv(csv, { columns: true }) as Record<string, string>[];
      const json = (await (await fetch(`${url}/api/v1/flaky?since=30d`)).json()) as {
        name: string;
        status: string;
        runs: number;
      }[];
      expect(exported.map((r) => [r.name, r.status, Number(r.runs)])).toEqual(
        json.map((v) => [v.name, v.status, v.runs]),
      );
    } finally {
      await browser.close();
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 120_000);

  test('from another machine, reading needs a token: a bearer header, or the cookie /login sets', async () => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!address) {
      console.warn('skipping the remote-read check: this machine has no non-loopback IPv4 address');
      return;
    }
    const dir = makeProject('dashboard-remote', { '.keep': '' });
    const token = (await runCli(dir, ['token', 'create', '--service', 'api'])).out.split('\n')[0]!.trim();
    const server = startCli(dir, ['serve', '--port', '0', '--host', '0.0.0.0']);
    let port = '';
    for (let i = 0; i < 100 && !port; i++) {
      port = /on http:\/\/\S+:(\d+);/.exec(server.output())?.[1] ?? '';
      if (!port) await new Promise((done) => setTimeout(done, 100));
    }
    try {
      const remote = `http://${address}:${port}`;
      expect((await fetch(`${remote}/`)).status).toBe(401);
      expect((await fetch(`${remote}/api/v1/flaky.csv`)).status).toBe(401);
      expect((await fetch(`${remote}/`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const bad = await fetch(`${remote}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token: 'sft_forged' }),
      });
      expect(bad.status).toBe(401);
      const login = await fetch(`${remote}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token }),
        redirect: 'manual',
      });
      expect(login.status).toBe(303);
      const cookie = login.headers.get('set-cookie')!;
      expect(cookie).toMatch(/seedfork_token=.*HttpOnly/);
      expect((await fetch(`${remote}/`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});
