import { createHash } from 'node:crypto';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { IngestCase, Report } from './read-report.js';
import type { HistoryStore, Queryable } from './store.js';

/** One CI job's reports, with where and when they come from. */
export interface IngestRequest {
  service: string;
  build: string;
  /** The job's attempt at this build (a rerun of the job is attempt 2), from 1. */
  attempt: number;
  commit?: string;
  branch?: string;
  /** When the run happened (epoch ms); else the reports' earliest timestamp; else now. */
  at?: number;
  /** Services this one depends on (for correlation). */
  dependsOn: string[];
  reports: Report[];
  /** Replace a run of the same service, build and attempt whose reports differ. */
  replace?: boolean;
}

/** What ingesting did. */
export interface IngestOutcome {
  runId: number;
  /** `duplicate`: the same reports were ingested before, nothing was stored again. */
  stored: 'new' | 'duplicate' | 'replaced';
  /** Test results in the run (after merging duplicates of one test). */
  tests: number;
  /** The run's time (epoch ms). */
  at: number;
  /** Tests that failed in the run (final status), as `file > name`. */
  failed: { file: string; name: string }[];
}

/** The same job was ingested before with other reports (and no `replace`). */
export class IngestConflict extends SeedforkError {
  constructor(message: string) {
    super(message);
    this.name = 'IngestConflict';
  }
}

const RANK: Record<IngestCase['status'], number> = { skipped: 0, passed: 1, flaky: 2, failed: 3 };

/**
 * Store one CI job's results, in one transaction: all of it or nothing. Idempotent: the same
 * (service, build, attempt) with the same report contents (in any order) is stored once; with
 * different contents it is refused unless `replace`.
 * @throws SeedforkError on a missing service or build, an attempt below 1, or a run of the same
 *   service, build and attempt with other contents (without `replace`)
 */
export async function ingest(store: HistoryStore, request: IngestRequest): Promise<IngestOutcome> {
  const { service, build, attempt } = request;
  if (!service.trim()) throw new SeedforkError('ingest needs a service name (--service)');
  if (!build.trim()) throw new SeedforkError('ingest needs a build id (--build)');
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new SeedforkError(`--attempt must be a whole number from 1, not ${attempt}`);
  }
  const hash = contentHash(request.reports);
  const cases = mergeCases(request.reports.flatMap((r) => r.cases));
  const stamps = request.reports.flatMap((r) => (r.timestamp === undefined ? [] : [r.timestamp]));
  const at = request.at ?? (stamps.length > 0 ? Math.min(...stamps) : Date.now());
  const failed = cases.filter((c) => c.status === 'failed').map((c) => ({ file: c.file, name: c.name }));
  return store.transaction(async (tx) => {
    const existing = await tx.query<{ id: string; content_hash: string }>(
      'select id, content_hash from runs where service = $1 and build = $2 and attempt = $3 for update',
      [service, build, attempt],
    );
    let stored: IngestOutcome['stored'] = 'new';
    if (existing[0]) {
      if (existing[0].content_hash === hash) {
        return { runId: Number(existing[0].id), stored: 'duplicate', tests: cases.length, at, failed };
      }
      if (!request.replace) {
        throw new IngestConflict(
          `service ${service} build ${build} attempt ${attempt} was ingested before with other reports; pass --replace to replace it, or --attempt N for a rerun of the job`,
        );
      }
      await adjustDays(tx, existing[0].id, -1);
      await tx.query('delete from runs where id = $1', [existing[0].id]);
      stored = 'replaced';
    }
    const [run] = await tx.query<{ id: string }>(
      `insert into runs (service, build, attempt, commit_sha, branch, at, depends_on, content_hash, sources)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
      [
        service,
        build,
        attempt,
        request.commit ?? null,
        request.branch ?? null,
        new Date(at).toISOString(),
        request.dependsOn,
        hash,
        request.reports.map((r) => createHash('sha256').update(r.content).digest('hex').slice(0, 16)),
      ],
    );
    const runId = Number(run!.id);
    if (cases.length > 0) {
      const files = cases.map((c) => c.file);
      const names = cases.map((c) => c.name);
      await ensureTests(tx, service, files, names);
      await tx.query(
        `insert into results (run_id, test_id, status, duration_ms, message, retry_failures)
         select $1, t.id, r.status, r.duration_ms, r.message, r.retry_failures
         from unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::int[])
           as r(file, name, status, duration_ms, message, retry_failures)
         join tests t on t.service = $8 and t.file = r.file and t.name = r.name`,
        [
          runId,
          files,
          names,
          cases.map((c) => c.status),
          cases.map((c) => c.durationMs),
          cases.map((c) => c.message ?? null),
          cases.map((c) => c.retryFailures),
          service,
        ],
      );
    }
    await adjustDays(tx, runId, 1);
    return { runId, stored, tests: cases.length, at, failed };
  });
}

/** Add (`sign` 1) or take away (-1) a run's results in the per-day rollup (`test_days`). */
async function adjustDays(tx: Queryable, runId: number | string, sign: 1 | -1): Promise<void> {
  await tx.query(
    `insert into test_days (test_id, day, runs, troubled)
     select r.test_id, (u.at at time zone 'UTC')::date, $2::int * count(*),
            $2::int * count(*) filter (where r.status in ('failed', 'flaky') or r.retry_failures > 0)
     from results r join runs u on u.id = r.run_id
     where r.run_id = $1 and r.status <> 'skipped'
     group by 1, 2
     on conflict (test_id, day) do update
       set runs = test_days.runs + excluded.runs, troubled = test_days.troubled + excluded.troubled`,
    [runId, sign],
  );
}

/**
 * Make sure the `tests` table has `service`'s tests with these files and names (pairwise), so
 * that rows about them (results, audit verdicts) can join on it.
 */
export async function ensureTests(
  tx: Queryable,
  service: string,
  files: string[],
  names: string[],
): Promise<void> {
  await tx.query(
    `insert into tests (service, file, name)
     select $1, f, n from unnest($2::text[], $3::text[]) as t(f, n)
     on conflict (service, file, name) do nothing`,
    [service, files, names],
  );
}

/** sha256 over the reports' own hashes, sorted: the same files in any order hash the same. */
function contentHash(reports: Report[]): string {
  const parts = reports.map((r) => createHash('sha256').update(r.content).digest('hex')).sort();
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/**
 * One result per test: a report may name a test twice (parametrised cases with one name, a
 * test in two shards' reports). The worst status wins; durations and failed attempts add up.
 */
function mergeCases(cases: IngestCase[]): IngestCase[] {
  const byKey = new Map<string, IngestCase>();
  for (const c of cases) {
    const key = `${c.file}\0${c.name}`;
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, { ...c });
      continue;
    }
    seen.durationMs += c.durationMs;
    seen.retryFailures += c.retryFailures;
    if (RANK[c.status] > RANK[seen.status]) {
      seen.status = c.status;
      if (c.message) seen.message = c.message;
    }
  }
  return [...byKey.values()];
}
