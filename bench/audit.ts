/**
 * Audit benchmark (issues #4, #12). For the bundled example and for the audit fixture
 * (test/fixtures/audit-suite), prints the wall time of a full default `seedfork audit` next to
 * one plain `seedfork run` of the same suite measured in the same process: the ratio is what the
 * audit costs, in plain runs. Both use the already-seeded snapshot (a warm-up run seeds it
 * first). The audit's phases overlap (its sandboxed runs share the workers), so they are timed
 * from its events: the sandboxed base runs (isolated, cold, the three orders), the culprit
 * searches with the confidence reruns beside them, the shared-host runs, and the reruns after
 * them. It also counts file runs, the unit of work on a CPU-bound machine: a plain run is one
 * per file. Then the issue-26 goals: the default audit against the sum of the runs it plans
 * (each kind measured alone: 3 isolated and a cold one, 3 orders in one sandbox, the shared
 * runs with 1 and max workers) plus its searches (≤ 1.25x), and `audit --quick` against one
 * plain run (≤ 4x). Needs root. Run with `npm run bench:audit`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AuditEvent, audit } from '../src/audit/audit.js';
import { loadConfig } from '../src/config/load.js';
import { type RunOptions, run } from '../src/run/run.js';
import { auditFixtureCopy, cleanUpAuditFixture } from '../test/support/audit-fixture.js';
import { expectHostClean, hostState } from '../test/support/host.js';

const EXAMPLE = resolve(import.meta.dirname, '../examples/todo-api');

const s = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;

/** Audit the project at `root` once, after a warm-up and a timed plain run; print the numbers. */
async function measure(name: string, root: string, clean: () => void): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'seedfork-bench-audit-'));
  const loaded = await loadConfig(root);
  clean();
  const plain = async (options: Partial<RunOptions> = {}) => {
    const t = performance.now();
    const result = await run(loaded, { json: join(out, 'run.json'), recordTimings: false, ...options });
    clean();
    return { ms: performance.now() - t, result };
  };
  // seeds the snapshot, so neither measurement below includes seeding; the two plain runs
  // record timings, as `seedfork run` does: a quick audit's budget is reckoned from them
  await plain({ recordTimings: true });
  const one = await plain({ recordTimings: true });
  // each kind of run the default audit plans, alone: an isolated run is a plain run; an order
  // run is every file in one sandbox, one after another; the shared runs are on the host
  const order = await plain({ per: 'worker', workers: 1 });
  // when each phase ended, from the audit's events
  const marks: { at: number; event: AuditEvent }[] = [];
  const t = performance.now();
  const report = await audit(loaded, {
    json: join(out, 'audit.json'),
    html: join(out, 'audit.html'),
    seed: 7,
    onEvent: (event) => marks.push({ at: performance.now() - t, event }),
  });
  const auditMs = performance.now() - t;
  clean();
  const tq = performance.now();
  const quick = await audit(loaded, {
    json: join(out, 'quick.json'),
    html: join(out, 'quick.html'),
    seed: 7,
    quick: true,
  });
  const quickMs = performance.now() - tq;
  clean();
  // the shared runs last: on the host they write into the project itself (the audits run theirs
  // in a copy), and what they leave would change the audits' outcomes
  const shared1 = await plain({ isolation: 'none', workers: 1 });
  const sharedMax = await plain({ isolation: 'none' });
  const planned = 4 * one.ms + 3 * order.ms + shared1.ms + sharedMax.ms;
  rmSync(out, { recursive: true, force: true });

  const doneAt = (pick: (label: string) => boolean) =>
    Math.max(
      0,
      ...marks.filter((m) => m.event.type === 'run-done' && pick(m.event.run.label)).map((m) => m.at),
    );
  const startAt = (pick: (label: string) => boolean) =>
    Math.min(
      auditMs,
      ...marks.filter((m) => m.event.type === 'run-start' && pick(m.event.label)).map((m) => m.at),
    );
  const base = (l: string) => /^(isolated #|isolated: cold|order: )/.test(l);
  const shared = (l: string) => l.startsWith('shared: ');
  const baseEnd = doneAt(base);
  const sharedStart = startAt(shared);
  const sharedEnd = doneAt(shared) || sharedStart;
  const searchRuns = report.tests.reduce((n, x) => n + (x.search?.runs ?? 0), 0);
  const reruns = report.runs.filter((r) => r.label.startsWith('isolated rerun'));
  const fileRuns = report.runs.reduce((n, r) => n + r.order.length, 0);
  const files = one.result.summary.files;
  console.log(
    `\n${name}: ${files} files, ${one.result.summary.tests} tests, ${report.runs.find((r) => r.kind === 'isolated')?.workers ?? '?'} workers`,
  );
  console.log(`plain run (baseline)                ${s(one.ms)}`);
  console.log(
    `full audit                          ${s(auditMs)}   ${(auditMs / one.ms).toFixed(1)}x a plain run`,
  );
  console.log(`  sandboxed base runs (pooled)      ${s(baseEnd)}`);
  console.log(
    `  searches ∥ confidence reruns      ${s(sharedStart - baseEnd)}   (${searchRuns} search sequences; ${reruns.length} rerun rounds)`,
  );
  console.log(`  shared-host runs                  ${s(sharedEnd - sharedStart)}`);
  console.log(`  reruns after them, report         ${s(auditMs - sharedEnd)}`);
  console.log(
    `file runs: ${fileRuns} in the audit's runs (${(fileRuns / files).toFixed(1)} plain runs' worth) + the searches' sequences; ${report.forks} sandboxes`,
  );
  console.log(`found: ${JSON.stringify(report.counts)}`);
  // the goals: the default audit against the runs it plans plus its searches; --quick against a plain run
  const searchesMs = Math.max(0, sharedStart - baseEnd);
  console.log(
    `planned runs alone: isolated ${s(one.ms)} (x4, cold included), one sandbox in order ${s(order.ms)} (x3), shared 1 worker ${s(shared1.ms)}, shared max ${s(sharedMax.ms)}: ${s(planned)}`,
  );
  console.log(
    `default audit / (planned runs + searches ${s(searchesMs)}): ${(auditMs / (planned + searchesMs)).toFixed(2)}x (goal ≤ 1.25x)`,
  );
  const quickFileRuns = quick.runs.reduce((n, r) => n + r.order.length, 0);
  console.log(
    `--quick audit ${s(quickMs)}: ${(quickMs / one.ms).toFixed(1)}x a plain run (goal ≤ 4x); ${quickFileRuns} file runs in its runs + ${quick.tests.reduce((n, x) => n + (x.search?.runs ?? 0), 0)} search sequences; found ${JSON.stringify(quick.counts)}`,
  );
  const searched = quick.tests.filter((x) => x.search);
  const status = (st: string) => searched.filter((x) => x.search!.status === st).length;
  console.log(
    `  its searches: ${searched.length} (${status('found')} found, ${status('budget')} stopped by its budget with candidates listed, ${searched.length - status('found') - status('budget')} other)`,
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/audit.ts needs root: sandboxes use mount and network namespaces');
    process.exit(2);
  }
  const before = hostState();
  await measure('example (examples/todo-api)', EXAMPLE, () => {
    rmSync('/tmp/todo-api-audit.log', { force: true });
    rmSync(join(EXAMPLE, '.cache'), { recursive: true, force: true });
  });
  const fixture = auditFixtureCopy('bench-audit');
  try {
    await measure('audit fixture (test/fixtures/audit-suite)', fixture, () => cleanUpAuditFixture(fixture));
  } finally {
    cleanUpAuditFixture(fixture);
    rmSync(fixture, { recursive: true, force: true });
  }
  await expectHostClean(before);
  console.log(
    '\nhost clean after the bench: no sandbox processes, overlay mounts, cgroups or network namespaces left',
  );
}

await main();
