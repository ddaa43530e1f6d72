import { createHash } from 'node:crypto';
import { SeedforkError } from '../errors/seedfork-error.js';
import { MAX_INT32, wholeNumber } from '../http/fields.js';
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

/** The test results of one run, one per test, by column (cheap to pass between threads). */
export interface CaseColumns {
  files: string[];
  names: string[];
  statuses: IngestCase['status'][];
  durations: number[];
  messages: (string | null)[];
  retryFailures: number[];
}

/** An ingest checked and worked out, ready to store ({@link prepareIngest}, {@link storeIngest}). */
export interface PreparedIngest {
  service: string;
  build: string;
  attempt: number;
  commit?: string;
  branch?: string;
  dependsOn: string[];
  replace: boolean;
  /** The run's time (epoch ms). */
  at: number;
  /** sha256 over the reports (see contentHash). */
  hash: string;
  /** Each report's own hash (16 hex digits). */
  sources: string[];
  cases: CaseColumns;
  failed: IngestOutcome['failed'];
}

/**
 * Check an ingest and work out what to store: the merged results (one per test), their
 * content hash and time. Pure CPU work, no database: the server runs it in a worker thread.
 * @throws SeedforkError on a missing service or build, or an attempt outside 1 to 2^31 - 1
 */
export function prepareIngest(request: IngestRequest): PreparedIngest {
  const { service, build, attempt } = request;
  if (!service.trim()) throw new SeedforkError('ingest needs a service name (--service)');
  if (!build.trim()) throw new SeedforkError('ingest needs a build id (--build)');
  wholeNumber('attempt (--attempt)', attempt, 1, MAX_INT32);
  const merged = mergeCases(request.reports.flatMap((r) => r.cases));
  const stamps = request.reports.flatMap((r) => (r.timestamp === undefined ? [] : [r.timestamp]));
  return {
    service,
    build,
    attempt,
    ...(request.commit ? { commit: request.commit } : {}),
    ...(request.branch ? { branch: request.branch } : {}),
    dependsOn: request.dependsOn,
    replace: request.replace === true,
    at: request.at ?? (stamps.length > 0 ? Math.min(...stamps) : Date.now()),
    hash: contentHash(request.reports),
    sources: request.reports.map((r) => createHash('sha256').update(r.content).digest('hex').slice(0, 16)),
    cases: {
      files: merged.map((c) => c.file),
      names: merged.map((c) => c.name),
      statuses: merged.map((c) => c.status),
      durations: merged.map((c) => c.durationMs),
      messages: merged.map((c) => c.message ?? null),
      retryFailures: merged.map((c) => c.retryFailures),
    },
    failed: merged.filter((c) => c.status === 'failed').map((c) => ({ file: c.file, name: c.name })),
  };
}

/**
 * Store one CI job's results, in one transaction: all of it or nothing. Idempotent: the same
 * (service, build, attempt) with the same report contents (in any order) is stored once; with
 * different contents it is refused unless `replace`.
 * @throws SeedforkError on a missing service or build, an attempt outside 1 to 2^31 - 1, or a
 *   run of the same service, build and attempt with other contents (without `replace`)
 */
export async function ingest(store: HistoryStore, request: IngestRequest): Promise<IngestOutcome> {
  return storeIngest(store, prepareIngest(request));
}

/** A row's test id, looked up through the unique index on (service, file, name) row by row:
 * joined instead, the planner may read every test of the service for each batch, and a large
 * ingest would slow down as it goes. */
const TEST_ID = 'select t.id from tests t where t.service = $8 and t.file = r.file and t.name = r.name';

/** Rows written per statement (about 20-50 ms each in the embedded store), with a turn of the
 * event loop after each: a 400,000-test ingest keeps the server answering (bench/server.ts). */
const BATCH_ROWS = 1000;

/**
 * Store a prepared ingest (see {@link ingest}) in one transaction, its results in batches of
 * BATCH_ROWS rows with the event loop free between them.
 * @throws IngestConflict for a run of the same service, build and attempt with other contents
 *   (without `replace`)
 */
export async function storeIngest(store: HistoryStore, prepared: PreparedIngest): Promise<IngestOutcome> {
  const { service, build, attempt, hash, at, failed, cases } = prepared;
  const tests = cases.files.length;
  return store.transaction(async (tx) => {
    const existing = await tx.query<{ id: string; content_hash: string }>(
      'select id, content_hash from runs where service = $1 and build = $2 and attempt = $3 for update',
      [service, build, attempt],
    );
    let stored: IngestOutcome['stored'] = 'new';
    if (existing[0]) {
      if (existing[0].content_hash === hash) {
        return { runId: Number(existing[0].id), stored: 'duplicate', tests, at, failed };
      }
      if (!prepared.replace) {
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
        prepared.commit ?? null,
        prepared.branch ?? null,
        new Date(at).toISOString(),
        prepared.dependsOn,
        hash,
        prepared.sources,
      ],
    );
    const runId = Number(run!.id);
    const day = new Date(at).toISOString().slice(0, 10);

    for (let from = 0; from < tests; from += BATCH_ROWS) {
      const to = Math.min(tests, from + BATCH_ROWS);
      const files = cases.files.slice(from, to);
      const names = cases.names.slice(from, to);
      const statuses = cases.statuses.slice(from, to);
      const retries = cases.retryFailures.slice(from, to);
      const yieldTurn = () => new Promise((resume) => setImmediate(resume));
      await ensureTests(tx, service, files, names);
      await yieldTurn();
      await tx.query(
        `insert into results (run_id, test_id, status, duration_ms, message, retry_failures)
         select $1, (${TEST_ID}), r.status, r.duration_ms, r.message, r.retry_failures
         from unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::int[])
           as r(file, name, status, duration_ms, message, retry_failures)`,
        [
          runId,
          files,
          names,
          statuses,
          cases.durations.slice(from, to),
          cases.messages.slice(from, to),
          retries,
          service,
        ],
      );
      await yieldTurn();
      // the per-day rollup (test_days), as adjustDays counts it: the run has one day
      await tx.query(
        `insert into test_days (test_id, day, runs, troubled)
         select (${TEST_ID.replace('$8', '$1')}), $2::date, 1,
                case when r.status in ('failed', 'flaky') or r.retry_failures > 0 then 1 else 0 end
         from unnest($3::text[], $4::text[], $5::text[], $6::int[]) as r(file, name, status, retry_failures)
         where r.status <> 'skipped'
         on conflict (test_id, day) do update
           set runs = test_days.runs + excluded.runs, troubled = test_days.troubled + excluded.troubled`,
        [service, day, files, names, statuses, retries],
      );
      await yieldTurn();
    }
    return { runId, stored, tests, at, failed };
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
