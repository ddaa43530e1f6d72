import { type AuditVerdict, latestAuditVerdicts } from './audit-verdicts.js';
import type { HistoryStore } from './store.js';
import { judge, type TestRun, type Verdict, type VerdictOptions } from './verdicts.js';

/** A test's verdict, with which test it is. */
export interface TestVerdict extends Verdict {
  /** The test's id in the store (the dashboard's /tests/<id>). */
  id: number;
  service: string;
  /** The test's class in its latest audit, when one was recorded. */
  audit?: AuditVerdict;
  /** Test file, or the suite/classname that stands for it. */
  file: string;
  name: string;
}

/** Which tests and runs `flakyTests` looks at. */
export interface FlakyQuery extends VerdictOptions {
  /** Only this service's tests. */
  service?: string;
  /** Only runs at or after this time (epoch ms). */
  since?: number;
  /** Only runs on this branch (tests without one there are left out). */
  branch?: string;
}

/** A run of a test as the store's `results` joined with `runs` give it. */
export interface RunRow {
  status: TestRun['status'];
  retry_failures: number;
  at: Date | string;
  build: string;
  attempt: number;
  commit_sha: string | null;
  branch: string | null;
}

/** The {@link TestRun} of a stored row. */
export function testRunOf(row: RunRow): TestRun {
  return {
    at: new Date(row.at).getTime(),
    build: row.build,
    attempt: row.attempt,
    status: row.status,
    retryFailures: row.retry_failures,
    ...(row.commit_sha ? { commit: row.commit_sha } : {}),
    ...(row.branch ? { branch: row.branch } : {}),
  };
}

/** Status order for listing: what needs attention first. */
const ORDER: Record<Verdict['status'], number> = { broken: 0, flaky: 1, fixed: 2, healthy: 3 };

/**
 * Every test's verdict over the window (see `judge` for the definitions), broken and flaky
 * first, then by flake rate. Only tests with trouble in the window (a failure, a flake, a failed
 * retry: the `test_days` rollup says which) have their runs read and judged; the others are
 * healthy, their runs counted by whole UTC days.
 */
export async function flakyTests(store: HistoryStore, query: FlakyQuery): Promise<TestVerdict[]> {
  const since = new Date(query.since ?? 0).toISOString();
  const service = query.service ?? null;
  // the rollup first: tests without trouble in the window are healthy, counted by whole UTC days
  const days = await store.query<{
    id: string;
    service: string;
    file: string;
    name: string;
    runs: string;
    troubled: string;
  }>(
    `select t.id, t.service, t.file, t.name, sum(d.runs) as runs, sum(d.troubled) as troubled
     from test_days d join tests t on t.id = d.test_id
     where d.day >= ($1::timestamptz at time zone 'UTC')::date and ($2::text is null or t.service = $2)
     group by t.id`,
    [since, service],
  );
  // the rollup does not know branches: with one, every test's runs are read
  const branch = query.branch ?? null;
  const troubled = days.filter((d) => branch !== null || Number(d.troubled) > 0).map((d) => d.id);
  const rows = await store.query<RunRow & { test_id: string; service: string; file: string; name: string }>(
    `select t.id as test_id, t.service, t.file, t.name, r.status, r.retry_failures,
            u.at, u.build, u.attempt, u.commit_sha, u.branch
     from results r
     join runs u on u.id = r.run_id
     join tests t on t.id = r.test_id
     where r.test_id = any($2::bigint[]) and u.at >= $1 and ($3::text is null or u.branch = $3)
     order by t.id`,
    [since, troubled, branch],
  );
  const judged = new Set(rows.map((r) => r.test_id));
  const audits = await latestAuditVerdicts(store);
  const verdicts: TestVerdict[] = [];
  let runs: TestRun[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    runs.push(testRunOf(row));
    if (rows[i + 1]?.test_id !== row.test_id) {
      const audit = audits.get(String(row.test_id));
      verdicts.push({
        id: Number(row.test_id),
        service: row.service,
        file: row.file,
        name: row.name,
        ...judge(runs, query),
        ...(audit ? { audit } : {}),
      });
      runs = [];
    }
  }
  for (const d of days) {
    if (judged.has(d.id) || branch !== null) continue;
    const audit = audits.get(String(d.id));
    verdicts.push({
      id: Number(d.id),
      service: d.service,
      file: d.file,
      name: d.name,
      ...judge([], query),
      runs: Number(d.runs),
      ...(audit ? { audit } : {}),
    });
  }
  return verdicts.sort(
    (a, b) =>
      ORDER[a.status] - ORDER[b.status] ||
      b.flakeRate - a.flakeRate ||
      a.service.localeCompare(b.service) ||
      a.name.localeCompare(b.name),
  );
}
