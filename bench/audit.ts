/**
 * Audit benchmark (issue #4). Prints the wall time of a full `seedfork audit` of the bundled
 * example (3 isolated runs, forward/reverse/shuffled orders in one sandbox, the shared host with
 * 1 and with max workers, polluter searches, leftovers) next to one plain `seedfork run` of the
 * same suite measured in the same process: the ratio is what the audit costs, in plain runs.
 * Both use the already-seeded snapshot (a warm-up run seeds it first). Needs root.
 * Run with `npm run bench:audit`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { audit } from '../src/audit/audit.js';
import { loadConfig } from '../src/config/load.js';
import { run } from '../src/run/run.js';
import { expectHostClean, hostState } from '../test/support/host.js';

const EXAMPLE = resolve(import.meta.dirname, '../examples/todo-api');

function cleanExample(): void {
  rmSync('/tmp/todo-api-audit.log', { force: true });
  rmSync(join(EXAMPLE, '.cache'), { recursive: true, force: true });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/audit.ts needs root: sandboxes use mount and network namespaces');
    process.exit(2);
  }
  const before = hostState();
  const out = mkdtempSync(join(tmpdir(), 'seedfork-bench-audit-'));
  const loaded = await loadConfig(EXAMPLE);
  cleanExample();
  const plain = async () => {
    const t = performance.now();
    const result = await run(loaded, { json: join(out, 'run.json'), recordTimings: false });
    return { ms: performance.now() - t, result };
  };
  await plain(); // seeds the snapshot, so neither measurement below includes seeding
  const one = await plain();
  const t = performance.now();
  const report = await audit(loaded, {
    json: join(out, 'audit.json'),
    html: join(out, 'audit.html'),
    seed: 7,
  });
  const auditMs = performance.now() - t;
  cleanExample();
  const searchRuns = report.tests.reduce((n, x) => n + (x.search?.runs ?? 0), 0);
  const workers = report.runs.find((r) => r.kind === 'isolated')?.workers ?? 0;
  console.log(
    `example suite: ${one.result.summary.files} files, ${one.result.summary.tests} tests, ${workers} workers`,
  );
  console.log(`plain run (baseline)   ${(one.ms / 1000).toFixed(1).padStart(7)} s`);
  console.log(
    `full audit             ${(auditMs / 1000).toFixed(1).padStart(7)} s   ${(auditMs / one.ms).toFixed(1)}x a plain run`,
  );
  for (const r of report.runs)
    console.log(`  ${r.label.padEnd(32)} ${(r.durationMs / 1000).toFixed(1).padStart(6)} s`);
  const runsMs = report.runs.reduce((n, r) => n + r.durationMs, 0);
  console.log(
    `  culprit searches + leftovers   ${((auditMs - runsMs) / 1000).toFixed(1).padStart(6)} s  (${searchRuns} sandboxed sequences, ${report.forks} sandboxes in all)`,
  );
  const flaky = report.tests.filter((x) => x.category !== 'stable-pass').length;
  console.log(
    `found: ${flaky} of ${report.tests.length} tests depend on shared state (${JSON.stringify(report.counts)})`,
  );
  rmSync(out, { recursive: true, force: true });
  await expectHostClean(before);
  console.log(
    'host clean after the bench: no sandbox processes, overlay mounts, cgroups or network namespaces left',
  );
}

await main();
