// The flakiness history demo (`npm run demo:history`): six weeks of CI builds of five services
// that report JUnit XML, with known flaky, broken and correlated tests, ingested into an embedded
// history, then shown by `seedfork flaky` and `seedfork correlate`, with the command that serves
// the dashboard over it.
//
// What is in it (the truth the commands should find):
// - ledger-db, a dependency of billing, orders and invoices, has maintenance from 02:00 to 03:00
//   UTC on most nights: one test of each of those services fails when its build runs then;
// - search's two indexing tests share a flaky fixture and fail together (8%);
// - mail > "sends the digest" is flaky on its own (15%), and billing's job reruns on failure;
// - billing > "applies refunds" is broken from the build of 2026-11-10 on;
// - orders > "computes totals" was broken for four days and fixed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { random } from '../../dist/history/generated-history.js';
import { ingest } from '../../dist/history/ingest.js';
import { readReport } from '../../dist/history/read-report.js';
import { openHistory } from '../../dist/history/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../../dist/cli/main.js');
const out = join(here, 'output');
const reports = join(out, 'reports');
rmSync(out, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const start = Date.UTC(2026, 9, 13); // six weeks before 2026-11-24
const days = 42;
const rand = random(20261124);
const services = {
  billing: {
    dependsOn: ['ledger-db', 'auth'],
    tests: ['charges a card', 'applies refunds', 'reads the ledger'],
  },
  orders: {
    dependsOn: ['ledger-db', 'auth'],
    tests: ['creates an order', 'computes totals', 'reads the ledger'],
  },
  invoices: { dependsOn: ['ledger-db', 'mail'], tests: ['renders a PDF', 'reads the ledger'] },
  search: { dependsOn: ['auth'], tests: ['indexes', 'reindexes', 'ranks'] },
  mail: { dependsOn: ['auth'], tests: ['sends the digest', 'bounces'] },
};
const maintenance = new Set(Array.from({ length: days }, (_, d) => d).filter(() => rand() < 0.75));
const refundsBroken = Date.UTC(2026, 10, 10);
const totalsBroken = [Date.UTC(2026, 9, 27), Date.UTC(2026, 9, 31)];

function fails(service, test, at, searchBlip) {
  const hour = new Date(at).getUTCHours();
  const day = Math.floor((at - start) / DAY);
  if (test === 'reads the ledger') return maintenance.has(day) && hour === 2 && rand() < 0.9;
  if (service === 'search' && (test === 'indexes' || test === 'reindexes')) return searchBlip;
  if (test === 'sends the digest') return rand() < 0.15;
  if (test === 'applies refunds') return at >= refundsBroken;
  if (test === 'computes totals') return at >= totalsBroken[0] && at < totalsBroken[1];
  return false;
}

function junit(service, at, results) {
  const cases = results
    .map(({ test, failed }) =>
      failed
        ? `    <testcase classname="${service}.test" name="${test}" time="0.02"><failure message="${test} failed">AssertionError: ${test}</failure></testcase>`
        : `    <testcase classname="${service}.test" name="${test}" time="0.02"/>`,
    )
    .join('\n');
  const failures = results.filter((r) => r.failed).length;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="${service}" tests="${results.length}" failures="${failures}" timestamp="${new Date(at).toISOString()}">
${cases}
  </testsuite>
</testsuites>
`;
}

// the builds: four a day per service at random times, one of them in the small hours
const jobs = [];
for (const [service, { tests }] of Object.entries(services)) {
  let build = 1000;
  for (let d = 0; d < days; d++) {
    const offsets = [(2 + rand()) * HOUR, ...Array.from({ length: 3 }, () => (6 + rand() * 17) * HOUR)].sort(
      (a, b) => a - b,
    );
    for (const offset of offsets) {
      build++;
      const at = start + d * DAY + offset;
      const commit = `${service.slice(0, 3)}${build.toString(16)}`;
      for (let attempt = 1; attempt <= 2; attempt++) {
        const when = at + (attempt - 1) * 10 * 60_000;
        const blip = rand() < 0.08;
        const results = tests.map((test) => ({ test, failed: fails(service, test, when, blip) }));
        const file = join(reports, `${service}-${build}-${attempt}.xml`);
        writeFileSync(file, junit(service, when, results));
        jobs.push({ service, build: String(build), attempt, commit, file });
        // billing's CI reruns a failed job once
        if (service !== 'billing' || !results.some((r) => r.failed)) break;
      }
    }
  }
}

const db = join(out, 'history');
console.log(
  `ingesting ${jobs.length} CI jobs of ${Object.keys(services).length} services over ${days} days into ${db} ...`,
);
const started = performance.now();
const store = await openHistory(db);
try {
  for (const job of jobs.slice(0, -1)) {
    await ingest(store, {
      service: job.service,
      build: job.build,
      attempt: job.attempt,
      commit: job.commit,
      branch: 'main',
      dependsOn: services[job.service].dependsOn,
      reports: [readReport(job.file)],
    });
  }
} finally {
  await store.close();
}
// the last job the way a CI job does it
const last = jobs.at(-1);
const cli = (args) =>
  execFileSync(process.execPath, [CLI, ...args], {
    cwd: out,
    stdio: 'inherit',
    env: { ...process.env, SEEDFORK_DB: db },
  });
const argv = [
  'ingest',
  last.file,
  '--service',
  last.service,
  '--build',
  last.build,
  '--attempt',
  String(last.attempt),
];
cli([
  ...argv,
  '--commit',
  last.commit,
  '--branch',
  'main',
  '--depends-on',
  services[last.service].dependsOn.join(','),
]);
console.log(
  `ingested in ${((performance.now() - started) / 1000).toFixed(1)} s\n\n$ seedfork flaky --since 60d`,
);
cli(['flaky', '--since', '60d']);
console.log('\n$ seedfork correlate --since 60d');
cli(['correlate', '--since', '60d']);
console.log(
  `\nThe same in the dashboard:\n  SEEDFORK_DB=${db} node ${CLI} serve\nthen open http://127.0.0.1:7357/?since=60d (services, the daily flake rate, each test's history, the clusters, the quarantine).`,
);
