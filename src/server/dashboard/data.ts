import type { AuditVerdict } from '../../history/audit-verdicts.js';
import {
  type FlakyQuery,
  flakyTests,
  type RunRow,
  type TestVerdict,
  testRunOf,
} from '../../history/flaky.js';
import { activeQuarantine, quarantineMatcher } from '../../history/quarantine.js';
import type { HistoryStore } from '../../history/store.js';
import { judge, type TestRun, type Verdict } from '../../history/verdicts.js';

/** What every dashboard page is filtered by (query string `since`, `service`, `branch`), and
 * how it judges (config `history.regressionRuns`): the verdicts' own query, `since` given. */
export interface Filters extends FlakyQuery {
  /** Only runs at or after this time, epoch ms. */
  since: number;
}

/** One service's line on the overview. */
export interface ServiceSummary {
  service: string;
  tests: number;
  flaky: number;
  broken: number;
  fixed: number;
  quarantined: number;
  /** Mean flake rate of its tests that ran (0-1). */
  flakeRate: number;
}

/** The overview: services ranked by flaky tests, the daily flake-rate trend, the worst tests. */
export interface Overview {
  services: ServiceSummary[];
  /**
   * Per UTC day (epoch seconds, as uPlot plots time) and service, the share of the service's
   * test results that day that failed or needed a retry, among tests not judged broken: what
   * flakiness costs a day. `null` where the service ran nothing that day.
   */
  trend: { days: number[]; series: { service: string; rates: (number | null)[] }[] };
  /** Tests judged flaky or broken, worst first. */
  tests: TestVerdict[];
}

const DAY_MS = 86_400_000;

/**
 * The overview's data (see {@link Overview}). The trend reads the per-day rollup (`test_days`),
 * so it costs days x tests, not results; with a branch filter it reads the branch's results.
 */
export async function overview(store: HistoryStore, filters: Filters): Promise<Overview> {
  const verdicts = await flakyTests(store, filters);
  const quarantined = quarantineMatcher(await activeQuarantine(store));
  const byService = new Map<string, ServiceSummary & { rateSum: number; ran: number }>();
  for (const v of verdicts) {
    const s = byService.get(v.service) ?? {
      service: v.service,
      tests: 0,
      flaky: 0,
      broken: 0,
      fixed: 0,
      quarantined: 0,
      flakeRate: 0,
      rateSum: 0,
      ran: 0,
    };
    s.tests++;
    if (v.status === 'flaky') s.flaky++;
    if (v.status === 'broken') s.broken++;
    if (v.status === 'fixed') s.fixed++;
    if (quarantined(v.service, v.file, v.name)) s.quarantined++;
    if (v.runs > 0) {
      s.rateSum += v.flakeRate;
      s.ran++;
    }
    byService.set(v.service, s);
  }
  const services = [...byService.values()]
    .map(({ rateSum, ran, ...s }) => ({ ...s, flakeRate: ran > 0 ? rateSum / ran : 0 }))
    .sort((a, b) => b.flaky - a.flaky || b.broken - a.broken || a.service.localeCompare(b.service));
  const broken = verdicts.filter((v) => v.status === 'broken').map((v) => v.id);
  return {
    services,
    trend: await trend(store, filters, broken),
    tests: verdicts.filter((v) => v.status === 'flaky' || v.status === 'broken'),
  };
}

async function trend(store: HistoryStore, filters: Filters, broken: number[]): Promise<Overview['trend']> {
  const since = new Date(filters.since).toISOString();
  const rows = filters.branch
    ? await store.query<{ service: string; day: string; runs: string; troubled: string }>(
        `select t.service, to_char((u.at at time zone 'UTC')::date, 'YYYY-MM-DD') as day, count(*) as runs,
                count(*) filter (where r.status in ('failed', 'flaky') or r.retry_failures > 0) as troubled
         from results r join runs u on u.id = r.run_id join tests t on t.id = r.test_id
         where u.at >= $1 and u.branch = $2 and ($3::text is null or t.service = $3)
           and r.status <> 'skipped' and not (t.id = any($4::bigint[]))
         group by 1, 2`,
        [since, filters.branch, filters.service ?? null, broken],
      )
    : await store.query<{ service: string; day: string; runs: string; troubled: string }>(
        `select t.service, to_char(d.day, 'YYYY-MM-DD') as day, sum(d.runs) as runs, sum(d.troubled) as troubled
         from test_days d join tests t on t.id = d.test_id
         where d.day >= ($1::timestamptz at time zone 'UTC')::date and ($2::text is null or t.service = $2)
           and not (t.id = any($3::bigint[]))
         group by 1, 2`,
        [since, filters.service ?? null, broken],
      );
  const dayMs = (day: string) => Date.parse(`${day}T00:00:00Z`);
  const dayList = [...new Set(rows.map((r) => dayMs(r.day)))].sort((a, b) => a - b);
  if (dayList.length > 0) {
    // every day in the range, so that gaps show as gaps
    const all: number[] = [];
    for (let d = dayList[0]!; d <= dayList[dayList.length - 1]!; d += DAY_MS) all.push(d);
    dayList.splice(0, dayList.length, ...all);
  }
  const index = new Map(dayList.map((d, i) => [d, i]));
  const series = new Map<string, (number | null)[]>();
  for (const r of rows) {
    const rates = series.get(r.service) ?? dayList.map(() => null);
    rates[index.get(dayMs(r.day))!] = Number(r.runs) > 0 ? Number(r.troubled) / Number(r.runs) : null;
    series.set(r.service, rates);
  }
  return {
    days: dayList.map((d) => d / 1000),
    series: [...series.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([service, rates]) => ({ service, rates })),
  };
}

/** One run of a test, for its history strip. */
export interface StripRun extends TestRun {
  message?: string;
}

/** A test's page: who it is, its verdict, its runs, its failures grouped, its audits. */
export interface TestDetail {
  id: number;
  service: string;
  file: string;
  name: string;
  verdict: Verdict;
  /** Oldest first. */
  runs: StripRun[];
  /** Failure messages grouped by their first line with numbers masked, most frequent first. */
  failures: { message: string; count: number; lastAt: number; example: string }[];
  /** Every recorded audit verdict, latest first. */
  audits: AuditVerdict[];
  quarantine?: string;
}

/**
 * One test's detail over the window, or undefined when there is no such test.
 * @param id the test's id in the store
 */
export async function testDetail(
  store: HistoryStore,
  id: number,
  filters: Filters,
): Promise<TestDetail | undefined> {
  const [test] = await store.query<{ id: string; service: string; file: string; name: string }>(
    'select id, service, file, name from tests where id = $1',
    [id],
  );
  if (!test) return undefined;
  const rows = await store.query<RunRow & { message: string | null }>(
    `select r.status, r.retry_failures, r.message, u.at, u.build, u.attempt, u.commit_sha, u.branch
     from results r join runs u on u.id = r.run_id
     where r.test_id = $1 and u.at >= $2 and ($3::text is null or u.branch = $3)
     order by u.at, u.id`,
    [id, new Date(filters.since).toISOString(), filters.branch ?? null],
  );
  const runs: StripRun[] = rows.map((r) => ({
    ...testRunOf(r),
    ...(r.message ? { message: r.message } : {}),
  }));
  const groups = new Map<string, { message: string; count: number; lastAt: number; example: string }>();
  for (const run of runs) {
    if (run.status !== 'failed' || !run.message) continue;
    const key = messageGroup(run.message);
    const group = groups.get(key) ?? { message: key, count: 0, lastAt: 0, example: run.message };
    group.count++;
    if (run.at >= group.lastAt) {
      group.lastAt = run.at;
      group.example = run.message;
    }
    groups.set(key, group);
  }
  const audits = await store.query<{
    category: string;
    reason: string;
    culprits: string[];
    at: Date | string;
  }>('select category, reason, culprits, at from audit_verdicts where test_id = $1 order by at desc', [id]);
  const quarantined = quarantineMatcher(await activeQuarantine(store))(test.service, test.file, test.name);
  return {
    id: Number(test.id),
    service: test.service,
    file: test.file,
    name: test.name,
    verdict: judge(runs, { regressionRuns: filters.regressionRuns }),
    runs,
    failures: [...groups.values()].sort((a, b) => b.count - a.count || b.lastAt - a.lastAt),
    audits: audits.map((a) => ({
      category: a.category,
      reason: a.reason,
      culprits: a.culprits.filter(Boolean),
      at: new Date(a.at).toISOString(),
    })),
    ...(quarantined ? { quarantine: quarantined.reason } : {}),
  };
}

/** A failure message's group: its first line, with numbers and hex ids masked,
 * so that "expected 3 to be 4" and "expected 5 to be 4" land together. */
export function messageGroup(message: string): string {
  const first = message.split('\n').find((line) => line.trim() !== '') ?? '';
  return first
    .trim()
    .replace(/0x[0-9a-f]+|\b[0-9a-f]{8,}\b/gi, '<id>')
    .replace(/\d+(\.\d+)?/g, 'N')
    .slice(0, 300);
}
