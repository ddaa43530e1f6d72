import type { HistoryStore } from './store.js';
import { judge, type TestRun, type Verdict, type VerdictOptions } from './verdicts.js';

/** A test's verdict, with which test it is. */
export interface TestVerdict extends Verdict {
  service: string;
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
}

/** Status order for listing: what needs attention first. */
const ORDER: Record<Verdict['status'], number> = { broken: 0, flaky: 1, fixed: 2, healthy: 3 };

/**
 * Every test's verdict over the window (see `judge` for the definitions), broken and flaky
 * first, then by flake rate.
 */
export async function flakyTests(store: HistoryStore, query: FlakyQuery): Promise<TestVerdict[]> {
  const rows = await store.query<{
    test_id: string;
    service: string;
    file: string;
    name: string;
    status: TestRun['status'];
    retry_failures: number;
    at: Date | string;
    build: string;
    attempt: number;
    commit_sha: string | null;
    branch: string | null;
  }>(
    `select t.id as test_id, t.service, t.file, t.name, r.status, r.retry_failures,
            u.at, u.build, u.attempt, u.commit_sha, u.branch
     from results r
     join runs u on u.id = r.run_id
     join tests t on t.id = r.test_id
     where u.at >= $1 and ($2::text is null or t.service = $2)
     order by t.id`,
    [new Date(query.since ?? 0).toISOString(), query.service ?? null],
  );
  const verdicts: TestVerdict[] = [];
  let runs: TestRun[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    runs.push({
      at: new Date(row.at).getTime(),
      build: row.build,
      attempt: row.attempt,
      status: row.status,
      retryFailures: row.retry_failures,
      ...(row.commit_sha ? { commit: row.commit_sha } : {}),
      ...(row.branch ? { branch: row.branch } : {}),
    });
    if (rows[i + 1]?.test_id !== row.test_id) {
      verdicts.push({ service: row.service, file: row.file, name: row.name, ...judge(runs, query) });
      runs = [];
    }
  }
  return verdicts.sort(
    (a, b) =>
      ORDER[a.status] - ORDER[b.status] ||
      b.flakeRate - a.flakeRate ||
      a.service.localeCompare(b.service) ||
      a.name.localeCompare(b.name),
  );
}
