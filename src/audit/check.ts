import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import type { Config } from '../config/schema.js';
import type { FileCost } from '../plan/cost.js';
import { makePlan } from '../plan/plan.js';
import type { AuditReport, ClassifiedTest } from './types.js';

/** One item of the pre-merge checklist of a parallel suite. */
export interface CheckItem {
  id:
    | 'one-worker'
    | 'max-workers'
    | 'shuffled'
    | 'alone-vs-suite'
    | 'scoped-resources'
    | 'shard-balance'
    | 'artifacts';
  title: string;
  /** `unknown`: the evidence for it is missing (an audit run not done, no timings). */
  status: 'pass' | 'fail' | 'unknown';
  /** What the verdict rests on, in sentences: the failing tests, the conflicting files. */
  evidence: string[];
  /** For a failing item: whether seedfork's isolation (a sandbox per file) makes it harmless. */
  harmlessUnderIsolation?: boolean;
}

/** The checklist's answer: every item, the shard count it recommends, and whether all hold. */
export interface CheckReport {
  items: CheckItem[];
  /** Shards that make the longest about 2-3x the per-shard setup, when timings allow saying. */
  recommendedShards?: { shards: number; longestMs: number; setupMs: number };
  ok: boolean;
}

/** Where test artifacts usually go, besides the configured ones (reports, screenshots, coverage, logs). */
export const ARTIFACT_GLOBS = [
  '**/coverage/**',
  '**/test-results/**',
  '**/screenshots/**',
  '**/*.png',
  '**/junit*.xml',
  '**/reports/**',
  '**/*.log',
  '**/*.trace',
  '**/*.webm',
];

const MAX_EVIDENCE = 8;

function list(lines: string[]): string[] {
  return lines.length > MAX_EVIDENCE
    ? [...lines.slice(0, MAX_EVIDENCE), `… and ${lines.length - MAX_EVIDENCE} more`]
    : lines;
}

const name = (t: ClassifiedTest) => `${t.file} > ${t.name}`;

/** Whether every test that failed in `run` passes alone (so a sandbox per file makes it harmless). */
function passesAlone(tests: ClassifiedTest[]): boolean {
  return tests.every((t) => {
    const alone = t.observations.filter((o) => o.kind === 'isolated' && o.status !== 'missing');
    return alone.length > 0 && alone.every((o) => o.status === 'passed' || o.status === 'skipped');
  });
}

/** The item for one audit run of the suite as written: it passes when no test failed in it. */
function runItem(
  report: AuditReport,
  id: CheckItem['id'],
  title: string,
  pick: (run: AuditReport['runs'][number]) => boolean,
): CheckItem {
  const run = report.runs.find(pick);
  if (!run) return { id, title, status: 'unknown', evidence: ['the audit did not do this run'] };
  const failed = report.tests.filter((t) =>
    t.observations.some((o) => o.run === run.label && o.status === 'failed'),
  );
  if (failed.length === 0)
    return { id, title, status: 'pass', evidence: [`${run.label}: all ${run.tests} tests passed`] };
  return {
    id,
    title,
    status: 'fail',
    evidence: list(failed.map((t) => `${name(t)} failed in ${run.label}`)),
    harmlessUnderIsolation: passesAlone(failed),
  };
}

/**
 * Answer the pre-merge checklist of a parallel suite from an audit of it (and its timings):
 * - it passes on a shared host with 1 worker, and with the audit's max workers;
 * - it passes with its files shuffled (in one environment);
 * - each test gives the same outcome alone as in the whole suite;
 * - ports, temp files and tables are scoped to a file (no conflicts, see findConflicts);
 * - shards are balanced within 20% (or the longest shard takes at least 3x the per-shard setup);
 * - no two files write an artifact (report, screenshot, coverage, log) to one path.
 * Each item is judged for the suite as written; a failing one says whether a sandbox per file
 * (seedfork run) makes it harmless. The recommended shard count makes the longest shard about
 * 2.5x the per-shard setup.
 * @param costs the suite's predicted file costs (timings), for the shard items
 * @param options.shards the shard count to judge (default: the recommended one, else 1);
 *   `setupMs` the time a CI job spends before its first test, in ms; `artifacts` globs of the
 *   paths the suite writes artifacts to (config and runner), besides {@link ARTIFACT_GLOBS}
 */
export function checkSuite(
  report: AuditReport,
  costs: FileCost[],
  options: { workers: number; setupMs: number; shards?: number; artifacts: string[] },
): CheckReport {
  const items: CheckItem[] = [
    runItem(report, 'one-worker', 'passes with 1 worker', (r) => r.kind === 'shared' && r.workers === 1),
    runItem(report, 'max-workers', 'passes with max workers', (r) => r.kind === 'shared' && r.workers > 1),
    runItem(report, 'shuffled', 'passes with files shuffled', (r) => r.label.startsWith('order: shuffle')),
  ];
  // alone vs in the whole suite
  const differs = report.tests.filter((t) => {
    const alone = new Set(
      t.observations.filter((o) => o.kind === 'isolated' && o.status !== 'missing').map((o) => o.status),
    );
    const together = new Set(
      t.observations.filter((o) => o.kind !== 'isolated' && o.status !== 'missing').map((o) => o.status),
    );
    return alone.size > 0 && together.size > 0 && [...together].some((s) => !alone.has(s));
  });
  const hasBoth =
    report.runs.some((r) => r.kind === 'isolated') && report.runs.some((r) => r.kind !== 'isolated');
  items.push(
    !hasBoth
      ? {
          id: 'alone-vs-suite',
          title: 'each test alone gives the same outcome as in the whole suite',
          status: 'unknown',
          evidence: ['the audit has no isolated runs, or no run of the whole suite'],
        }
      : differs.length === 0
        ? {
            id: 'alone-vs-suite',
            title: 'each test alone gives the same outcome as in the whole suite',
            status: 'pass',
            evidence: [`all ${report.tests.length} tests had the same outcomes alone as with the others`],
          }
        : {
            id: 'alone-vs-suite',
            title: 'each test alone gives the same outcome as in the whole suite',
            status: 'fail',
            evidence: list(differs.map((t) => `${name(t)}: ${t.category}, ${t.reason}`)),
            harmlessUnderIsolation: passesAlone(differs),
          },
  );
  // resources scoped to a file: one line per shared resource, with every file using it
  const byResource = new Map<string, Set<string>>();
  const VERB = { port: 'bind', file: 'write', table: 'write table' } as const;
  for (const c of report.conflicts) {
    const what = `${VERB[c.kind]} ${c.kind === 'table' ? c.resource.split(' ')[1] : c.resource}`;
    const files = byResource.get(what) ?? new Set<string>();
    for (const f of c.files) files.add(f);
    byResource.set(what, files);
  }
  items.push(
    report.leftovers.length === 0
      ? {
          id: 'scoped-resources',
          title: 'ports, temp files and databases are scoped to a worker',
          status: 'unknown',
          evidence: ['the audit collected no footprints (no isolated run)'],
        }
      : report.conflicts.length === 0
        ? {
            id: 'scoped-resources',
            title: 'ports, temp files and databases are scoped to a worker',
            status: 'pass',
            evidence: [
              `no two of the ${report.leftovers.length} files bind a port, write a path or write a table in common`,
            ],
          }
        : {
            id: 'scoped-resources',
            title: 'ports, temp files and databases are scoped to a worker',
            status: 'fail',
            evidence: list(
              [...byResource].map(([what, files]) => `${what}: ${[...files].sort().join(', ')}`),
            ),
            harmlessUnderIsolation: true,
          },
  );
  // shards
  const recommendedShards = recommend(costs, options.workers, options.setupMs);
  const shards = options.shards ?? recommendedShards?.shards ?? 1;
  if (costs.length === 0) {
    items.push({
      id: 'shard-balance',
      title: 'shards are balanced',
      status: 'unknown',
      evidence: ['no test files'],
    });
  } else {
    const plan = makePlan(costs, { shards, strategy: 'timing', workers: options.workers });
    const longest = Math.max(...plan.shards.map((s) => s.predictedMs));
    const balanced = plan.balance <= 1.2;
    const long = longest >= 3 * options.setupMs;
    items.push({
      id: 'shard-balance',
      title: `shards are balanced within 20% (${shards} shard${shards === 1 ? '' : 's'}), or the longest takes at least 3x the per-shard setup`,
      status: shards === 1 || balanced || long ? 'pass' : 'fail',
      evidence: [
        `planned on the timings: slowest / mean shard ${plan.balance.toFixed(2)}, longest shard ${(longest / 1000).toFixed(1)} s, per-shard setup ${(options.setupMs / 1000).toFixed(1)} s`,
      ],
    });
  }
  // artifacts
  const isArtifact = picomatch([...ARTIFACT_GLOBS, ...options.artifacts], { dot: true });
  const clashes = report.conflicts.filter((c) => c.kind === 'file' && isArtifact(c.resource));
  items.push(
    report.leftovers.length === 0
      ? {
          id: 'artifacts',
          title: 'artifacts of different files never land on one path',
          status: 'unknown',
          evidence: ['the audit collected no footprints (no isolated run)'],
        }
      : clashes.length === 0
        ? {
            id: 'artifacts',
            title: 'artifacts of different files never land on one path',
            status: 'pass',
            evidence: ['no two files write a report, screenshot, coverage file or log to the same path'],
          }
        : {
            id: 'artifacts',
            title: 'artifacts of different files never land on one path',
            status: 'fail',
            evidence: list(clashes.map((c) => `${c.files.join(' and ')} both write ${c.resource}`)),
            // seedfork run collects each file's artifacts into a directory of its own
            harmlessUnderIsolation: true,
          },
  );
  return {
    items,
    ...(recommendedShards ? { recommendedShards } : {}),
    ok: items.every((i) => i.status === 'pass'),
  };
}

/**
 * The shard count whose longest shard is closest to 2.5x the per-shard setup (never below it
 * when one shard already is), the rule of thumb that splitting further spends more machine time
 * on setup than it saves in wall time.
 */
function recommend(
  costs: FileCost[],
  workers: number,
  setupMs: number,
): CheckReport['recommendedShards'] | undefined {
  if (costs.length === 0 || setupMs <= 0) return undefined;
  let best: { shards: number; longestMs: number; setupMs: number } | undefined;
  for (let shards = 1; shards <= Math.min(costs.length, 64); shards++) {
    const plan = makePlan(costs, { shards, strategy: 'timing', workers });
    const longestMs = Math.max(...plan.shards.map((s) => s.predictedMs));
    if (shards > 1 && longestMs < 2.5 * setupMs) break;
    best = { shards, longestMs: Math.round(longestMs), setupMs };
  }
  return best;
}

/**
 * A hash of the config as loaded (functions left out), so that `seedfork check` reuses only an
 * audit of the same suite under the same config.
 */
export function configHash(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}
