import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { correlateHistory } from '../src/history/correlate-history.js';
import { flakyTests } from '../src/history/flaky.js';
import { random } from '../src/history/generated-history.js';
import { ingest } from '../src/history/ingest.js';
import type { IngestCase } from '../src/history/read-report.js';
import { type HistoryStore, openHistory } from '../src/history/store.js';
import { overview } from '../src/server/dashboard/data.js';
import { serveHistory } from '../src/server/serve.js';
import { startHostCluster } from './host-postgres.js';

const RESULTS = Number(process.env.RESULTS ?? 1_000_000);
const TESTS = Number(process.env.TESTS ?? 200);
const SERVICES = ['billing', 'orders', 'invoices', 'search', 'mail', 'auth', 'ledger', 'web'];
const HOUR = 3_600_000;

/** One CI job's cases: TESTS tests, a few flaky at 5-30%, one service-wide nightly cluster. */
function jobCases(rand: () => number, service: number, at: number): IngestCase[] {
  const nightly = new Date(at).getUTCHours() === 2 && service < 3;
  return Array.from({ length: TESTS }, (_, i) => {
    const rate = i < 4 ? 0.05 * (i + 1) : 0;
    const failed = rand() < rate || (i === 5 && nightly && rand() < 0.9);
    return {
      file: `test/f${i % 20}.test.ts`,
      name: `case ${i}`,
      status: failed ? 'failed' : 'passed',
      durationMs: 5 + Math.floor(rand() * 50),
      ...(failed ? { message: 'AssertionError: expected 1 to be 2' } : {}),
      retryFailures: 0,
    };
  });
}

/**
 * Ingest RESULTS results as CI jobs of TESTS tests each. Every 100,000 results the store is
 * closed and opened again, as the many commands that fill a real history over weeks find it
 * (the embedded store sizes its buffer pool to its data when it opens); the opens are timed too.
 */
async function load(target: string): Promise<{ seconds: number; results: number }> {
  const rand = random(42);
  let store = await openHistory(target);
  const jobs = Math.ceil(RESULTS / TESTS);
  const start = Date.now() - 60 * 24 * HOUR;
  const started = performance.now();
  let results = 0;
  for (let j = 0; j < jobs; j++) {
    const service = j % SERVICES.length;
    const at = start + Math.floor((j / jobs) * 59 * 24 * HOUR) + Math.floor(rand() * HOUR);
    const cases = jobCases(rand, service, at);
    await ingest(store, {
      service: SERVICES[service]!,
      build: String(j),
      attempt: 1,
      commit: `c${j}`,
      branch: 'main',
      at,
      dependsOn: service < 3 ? ['ledger-db'] : [],
      reports: [{ cases, content: Buffer.from(`job ${j}`) }],
    });
    results += cases.length;
    if (results % 100_000 < cases.length && j < jobs - 1) {
      await store.close();
      store = await openHistory(target);
    }
  }
  await store.close();
  return { seconds: (performance.now() - started) / 1000, results };
}

async function timedMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

async function measure(name: string, target: string): Promise<void> {
  const ingested = await load(target);
  // the queries run in a command of their own (seedfork flaky, correlate, serve), which opens
  // the store as it is now
  const opened = await timedMs(() => openHistory(target));
  const store = opened.value;
  try {
    const { seconds, results } = ingested;
    const rate = results / seconds;
    console.log(
      `\n${name}: ingested ${results.toLocaleString()} results in ${seconds.toFixed(1)} s (${Math.round(rate).toLocaleString()}/s); goal 1M in < 60 s: ${(1_000_000 / rate).toFixed(1)} s, ${1_000_000 / rate < 60 ? 'met' : 'MISSED'}`,
    );
    console.log(`  open:      ${opened.ms.toFixed(0)} ms (each command opens the store once)`);
    const flaky = await timedMs(() => flakyTests(store, { since: 0, regressionRuns: 2 }));
    console.log(
      `  flaky:     ${flaky.ms.toFixed(0)} ms for ${flaky.value.length} tests (${flaky.value.filter((v) => v.status === 'flaky').length} flaky); goal < 1000 ms: ${flaky.ms < 1000 ? 'met' : 'MISSED'}`,
    );
    const cor = await timedMs(() =>
      correlateHistory(store, { since: 0, windowMs: HOUR, minFailures: 3, regressionRuns: 2, dependsOn: {} }),
    );
    console.log(
      `  correlate: ${cor.ms.toFixed(0)} ms, ${cor.value.clusters.length} cluster(s) among ${cor.value.tests} failing tests; goal < 1000 ms: ${cor.ms < 1000 ? 'met' : 'MISSED'}`,
    );
    const view = await timedMs(() => overview(store, { since: 0, regressionRuns: 2 }));
    console.log(
      `  overview:  ${view.ms.toFixed(0)} ms (${view.value.services.length} services, ${view.value.trend.days.length} days); goal < 1000 ms: ${view.ms < 1000 ? 'met' : 'MISSED'}`,
    );
    const painted = await paintMs(store);
    console.log(
      painted === undefined
        ? '  overview page: not measured (no chromium: apt-get install chromium)'
        : `  overview page painted in Chromium: ${painted.toFixed(0)} ms; goal < 1000 ms: ${painted < 1000 ? 'met' : 'MISSED'}`,
    );
  } finally {
    await store.close();
  }
}

/**
 * The overview page's time in headless Chromium, in ms: from the request to the trend chart
 * drawn (median of 3 loads after one warm-up); undefined without a chromium.
 */
async function paintMs(store: HistoryStore): Promise<number | undefined> {
  const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!executablePath) return undefined;
  const server = await serveHistory(store, { port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const load = async () => {
      const started = performance.now();
      await page.goto(`${server.url}/?since=3650d`);
      await page.waitForFunction(() => 'seedforkCharts' in window);
      return performance.now() - started;
    };
    await load();
    const times = [await load(), await load(), await load()].sort((a, b) => a - b);
    return times[1];
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main() {
  const backends = (process.env.BACKENDS ?? 'embedded,postgres').split(',');
  console.log(`history benchmark: ${RESULTS.toLocaleString()} results, ${TESTS} tests per job`);
  if (backends.includes('embedded')) {
    const dir = mkdtempSync('/tmp/seedfork-bench-history-');
    try {
      await measure('embedded (PGlite)', join(dir, 'history'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (backends.includes('postgres')) {
    const cluster = startHostCluster(55440);
    try {
      await measure('PostgreSQL 15 (host)', cluster.url);
    } finally {
      cluster.stop();
    }
  }
}

await main();
