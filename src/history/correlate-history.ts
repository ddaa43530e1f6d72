import { type Cluster, type CorrelateOptions, correlate, type FailureEvent } from './correlate.js';
import { flakyTests } from './flaky.js';
import type { HistoryStore } from './store.js';

/** Which failures `correlateHistory` clusters, and how. */
export interface CorrelateQuery extends Omit<CorrelateOptions, 'dependsOn'> {
  /** Only runs at or after this time (epoch ms). */
  since?: number;
  /** Failure streaks this long are regressions (as for `flaky`). */
  regressionRuns: number;
  /** Dependencies from the config (`history.services`), added to those runs were ingested with. */
  dependsOn: Record<string, string[]>;
}

/**
 * Cluster the history's failures over the window (see `correlate`). Tests judged broken are
 * left out: failing on every run, they co-occur with everything and explain nothing. Each
 * service's dependencies are those of its latest run with `--depends-on`, plus the config's.
 */
export async function correlateHistory(
  store: HistoryStore,
  query: CorrelateQuery,
): Promise<{ clusters: Cluster[]; threshold: number; tests: number }> {
  const since = new Date(query.since ?? 0).toISOString();
  const broken = new Set(
    (await flakyTests(store, { since: query.since ?? 0, regressionRuns: query.regressionRuns }))
      .filter((v) => v.status === 'broken')
      .map((v) => JSON.stringify([v.service, v.file, v.name])),
  );
  // only tests the rollup says failed in the window have failures to read
  const rows = await store.query<{ service: string; file: string; name: string; at: Date | string }>(
    `select t.service, t.file, t.name, u.at
     from results r join runs u on u.id = r.run_id join tests t on t.id = r.test_id
     where r.test_id in (
             select test_id from test_days
             where day >= ($1::timestamptz at time zone 'UTC')::date and troubled > 0)
       and u.at >= $1 and r.status = 'failed'`,
    [since],
  );
  const events: FailureEvent[] = rows
    .filter((r) => !broken.has(JSON.stringify([r.service, r.file, r.name])))
    .map((r) => ({ service: r.service, file: r.file, name: r.name, at: new Date(r.at).getTime() }));
  const declared = await store.query<{ service: string; depends_on: string[] }>(
    `select distinct on (service) service, depends_on from runs
     where cardinality(depends_on) > 0 order by service, at desc`,
  );
  const dependsOn: Record<string, string[]> = {};
  for (const row of declared) dependsOn[row.service] = [...row.depends_on];
  for (const [service, deps] of Object.entries(query.dependsOn)) {
    dependsOn[service] = [...new Set([...(dependsOn[service] ?? []), ...deps])];
  }
  const result = correlate(events, { ...query, dependsOn });
  return { ...result, tests: new Set(events.map((e) => JSON.stringify([e.service, e.file, e.name]))).size };
}
