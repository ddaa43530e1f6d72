// The history server under a large ingest: `npm run bench:server`. Starts `seedfork serve` (the
// built CLI, or the one CLI=path names, so an earlier build can be measured the same way) on an
// embedded store, posts one job's JUnit XML of TESTS test cases (400,000: about 42 MB) and, while
// it is ingested, asks /api/v1/health every 10 ms from this process. Prints the ingest's time
// and rate, health's latency p50/p99/max during it, and the server's peak RSS.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(process.env.CLI ?? join(import.meta.dirname, '../dist/cli/main.js'));
const TESTS = Number(process.env.TESTS ?? 400_000);
const HEALTH_EVERY_MS = 10;

/** A JUnit report of `tests` cases in 400 files, 1% failing: about 105 bytes a case. */
function report(tests: number): string {
  const parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench">\n'];
  const perFile = Math.ceil(tests / 400);
  for (let f = 0; f * perFile < tests; f++) {
    parts.push(`<testsuite name="test/area-${f}.test.ts" tests="${perFile}">\n`);
    for (let i = f * perFile; i < Math.min(tests, (f + 1) * perFile); i++) {
      const failing = i % 100 === 7;
      parts.push(
        `<testcase classname="test/area-${f}.test.ts" name="behaves as specified, case ${i}" time="0.012"${
          failing ? '><failure message="expected 1 to be 2">AssertionError</failure></testcase>' : '/>'
        }\n`,
      );
    }
    parts.push('</testsuite>\n');
  }
  parts.push('</testsuites>\n');
  return parts.join('');
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Start `seedfork serve` on `db`; resolves with its URL once it listens. */
function serve(db: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', db], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((done, fail) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const url = /on (http:\/\/\S+);/.exec(out)?.[1];
      if (url) done({ child, url });
    });
    child.once('exit', (code) => fail(new Error(`seedfork serve exited (${code}): ${out}`)));
  });
}

/** Peak resident memory of process `pid` (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kib) / 1024);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'seedfork-bench-server-'));
  const db = join(dir, 'history');
  const token = execFileSync(process.execPath, [CLI, 'token', 'create', '--service', 'bench', '--db', db], {
    encoding: 'utf8',
  })
    .split('\n')[0]!
    .trim();
  const xml = report(TESTS);
  const body = JSON.stringify({
    service: 'bench',
    build: '1',
    reports: [{ name: 'junit.xml', content: Buffer.from(xml).toString('base64') }],
  });
  const { child, url } = await serve(db);
  try {
    const latencies: number[] = [];
    const failures: string[] = [];
    let ingesting = true;
    const sampler = (async () => {
      while (ingesting) {
        const started = performance.now();
        try {
          await (await fetch(`${url}/api/v1/health`)).json();
        } catch (error) {
          // a stalled server can drop a kept-alive connection: counted, with the time it took
          failures.push(String((error as Error).cause ?? error));
        }
        latencies.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, HEALTH_EVERY_MS));
      }
    })();
    const started = performance.now();
    const answer = await fetch(`${url}/api/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    const seconds = (performance.now() - started) / 1000;
    ingesting = false;
    await sampler;
    const outcome = (await answer.json()) as { tests?: number; error?: string };
    if (!answer.ok) throw new Error(`ingest answered ${answer.status}: ${outcome.error}`);
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`CLI: ${CLI}`);
    console.log(
      `ingest of ${outcome.tests} tests (${(xml.length / 1024 ** 2).toFixed(1)} MiB of JUnit XML): ${seconds.toFixed(1)} s, ${Math.round((outcome.tests ?? 0) / seconds)} tests/s`,
    );
    console.log(
      `health during it (${sorted.length} requests, one every ${HEALTH_EVERY_MS} ms): p50 ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${quantile(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms${
        failures.length ? `; ${failures.length} failed (${[...new Set(failures)].join('; ')})` : ''
      }`,
    );
    console.log(`server peak RSS: ${peakRssMiB(child.pid!)} MiB`);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
