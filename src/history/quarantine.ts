import picomatch from 'picomatch';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { TestVerdict } from './flaky.js';
import type { HistoryStore, Queryable } from './store.js';

/** A quarantine entry: tests whose failures do not fail a build. */
export interface QuarantineEntry {
  id: number;
  /** Only this service's tests; undefined for every service. */
  service?: string;
  /** A glob (picomatch, `*` crossing " > ") over `file > name`, or over the name alone. */
  pattern: string;
  reason: string;
  owner?: string;
  source: 'manual' | 'auto';
  createdAt: number;
  expiresAt?: number;
}

/** When tests are quarantined and released automatically (config `history.quarantine`). */
export interface AutoQuarantine {
  /** Flake rate (0-1) at or above which a flaky test is quarantined... */
  threshold: number;
  /** ...over at least this many runs... */
  minRuns: number;
  /** ...and released after this many clean runs in a row (passed, no failed retry). */
  releaseAfter: number;
}

interface Row {
  id: string;
  service: string | null;
  pattern: string;
  reason: string;
  owner: string | null;
  source: 'manual' | 'auto';
  created_at: Date | string;
  expires_at: Date | string | null;
}

const toEntry = (r: Row): QuarantineEntry => ({
  id: Number(r.id),
  ...(r.service ? { service: r.service } : {}),
  pattern: r.pattern,
  reason: r.reason,
  ...(r.owner ? { owner: r.owner } : {}),
  source: r.source,
  createdAt: new Date(r.created_at).getTime(),
  ...(r.expires_at ? { expiresAt: new Date(r.expires_at).getTime() } : {}),
});

/** Entries in force at `now`: not released, not expired. */
export async function activeQuarantine(db: Queryable, now = Date.now()): Promise<QuarantineEntry[]> {
  const rows = await db.query<Row>(
    `select id, service, pattern, reason, owner, source, created_at, expires_at from quarantine
     where released_at is null and (expires_at is null or expires_at > $1) order by id`,
    [new Date(now).toISOString()],
  );
  return rows.map(toEntry);
}

/**
 * Quarantine the tests matching `pattern`.
 * @throws SeedforkError on an empty pattern or reason
 */
export async function addQuarantine(
  store: HistoryStore,
  entry: { service?: string; pattern: string; reason: string; owner?: string; expiresAt?: number },
): Promise<QuarantineEntry> {
  if (!entry.pattern.trim()) throw new SeedforkError('quarantine add needs a test name or glob');
  if (!entry.reason.trim())
    throw new SeedforkError('quarantine add needs a --reason: say why, so that it gets fixed');
  const [row] = await store.query<Row>(
    `insert into quarantine (service, pattern, reason, owner, source, expires_at)
     values ($1, $2, $3, $4, 'manual', $5)
     returning id, service, pattern, reason, owner, source, created_at, expires_at`,
    [
      entry.service ?? null,
      entry.pattern,
      entry.reason,
      entry.owner ?? null,
      entry.expiresAt === undefined ? null : new Date(entry.expiresAt).toISOString(),
    ],
  );
  return toEntry(row!);
}

/**
 * Release entries: by id, or every active one whose pattern is `target`.
 * @returns how many were released
 */
export async function removeQuarantine(store: HistoryStore, target: string): Promise<number> {
  const byId = /^\d+$/.test(target);
  const rows = await store.query<{ id: string }>(
    `update quarantine set released_at = now()
     where released_at is null and ${byId ? 'id = $1::bigint' : 'pattern = $1'} returning id`,
    [target],
  );
  return rows.length;
}

/**
 * A matcher over the entries: the entry that quarantines a test of `service`, or undefined.
 * The pattern is matched against `file > name` and against the name alone.
 */
export function quarantineMatcher(
  entries: QuarantineEntry[],
): (service: string | undefined, file: string, name: string) => QuarantineEntry | undefined {
  const compiled = entries.map((e) => ({ e, match: picomatch(e.pattern, { dot: true, bash: true }) }));
  return (service, file, name) => {
    const full = file ? `${file} > ${name}` : name;
    return compiled.find(
      ({ e, match }) =>
        (e.service === undefined || e.service === service) &&
        (match(full) || match(name) || e.pattern === full),
    )?.e;
  };
}

/**
 * Quarantine flaky tests at or above the threshold over at least `minRuns` runs, and release
 * automatic entries whose test has passed its last `releaseAfter` runs cleanly.
 * @returns what changed, as `file > name` per service
 */
export async function applyAutoQuarantine(
  store: HistoryStore,
  verdicts: TestVerdict[],
  options: AutoQuarantine,
): Promise<{ added: string[]; released: string[] }> {
  return store.transaction(async (tx) => {
    const active = await activeQuarantine(tx);
    const matches = quarantineMatcher(active);
    const added: string[] = [];
    for (const v of verdicts) {
      if (v.status !== 'flaky' || v.runs < options.minRuns || v.flakeRate < options.threshold) continue;
      if (matches(v.service, v.file, v.name)) continue;
      const pattern = v.file ? `${v.file} > ${v.name}` : v.name;
      await tx.query(
        `insert into quarantine (service, pattern, reason, source) values ($1, $2, $3, 'auto')`,
        [v.service, pattern, `flake rate ${(v.flakeRate * 100).toFixed(1)}% over ${v.runs} runs`],
      );
      added.push(`${v.service}: ${pattern}`);
    }
    const released: string[] = [];
    for (const e of active.filter((x) => x.source === 'auto')) {
      const recent = await tx.query<{ status: string; retry_failures: number }>(
        `select r.status, r.retry_failures from results r
         join runs u on u.id = r.run_id join tests t on t.id = r.test_id
         where t.service = $1 and (t.file || ' > ' || t.name = $2 or t.name = $2) and r.status <> 'skipped'
         order by u.at desc limit $3`,
        [e.service ?? '', e.pattern, options.releaseAfter],
      );
      const clean =
        recent.length >= options.releaseAfter &&
        recent.every((r) => r.status === 'passed' && !r.retry_failures);
      if (!clean) continue;
      await tx.query('update quarantine set released_at = now() where id = $1', [e.id]);
      released.push(`${e.service}: ${e.pattern}`);
    }
    return { added, released };
  });
}
