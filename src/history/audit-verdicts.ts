import type { AuditReport } from '../audit/types.js';
import { ensureTests } from './ingest.js';
import type { HistoryStore } from './store.js';

/** A test's class in its latest audit. */
export interface AuditVerdict {
  category: string;
  reason: string;
  /** Polluters or state-setters the audit confirmed: files, or `file > test`. */
  culprits: string[];
  /** ISO 8601, when the audit started. */
  at: string;
}

/**
 * Store an audit's classes for `service`'s tests (`seedfork audit` does when the history is
 * configured), in one transaction; the same audit stored again replaces its rows.
 * @returns how many tests were stored
 */
export async function recordAudit(
  store: HistoryStore,
  service: string,
  report: AuditReport,
): Promise<number> {
  const tests = report.tests;
  if (tests.length === 0) return 0;
  return store.transaction(async (tx) => {
    const files = tests.map((t) => t.file);
    const names = tests.map((t) => t.name);
    await ensureTests(tx, service, files, names);
    await tx.query(
      `insert into audit_verdicts (test_id, at, category, reason, culprits)
       select t.id, $4, v.category, v.reason, string_to_array(v.culprits, E'\\n')
       from unnest($2::text[], $3::text[], $5::text[], $6::text[], $7::text[]) as v(file, name, category, reason, culprits)
       join tests t on t.service = $1 and t.file = v.file and t.name = v.name
       on conflict (test_id, at) do update set category = excluded.category, reason = excluded.reason, culprits = excluded.culprits`,
      [
        service,
        files,
        names,
        report.startedAt,
        tests.map((t) => t.category),
        tests.map((t) => t.reason),
        tests.map((t) =>
          t.search?.status === 'found'
            ? [...t.search.files, ...t.search.tests.map((c) => `${c.file} > ${c.name}`)].join('\n')
            : '',
        ),
      ],
    );
    return tests.length;
  });
}

/** Each test's latest audit verdict, by test id. */
export async function latestAuditVerdicts(store: HistoryStore): Promise<Map<string, AuditVerdict>> {
  const rows = await store.query<{
    test_id: string;
    category: string;
    reason: string;
    culprits: string[];
    at: Date | string;
  }>(
    `select distinct on (test_id) test_id, category, reason, culprits, at
     from audit_verdicts order by test_id, at desc`,
  );
  return new Map(
    rows.map((r) => [
      String(r.test_id),
      {
        category: r.category,
        reason: r.reason,
        culprits: r.culprits.filter(Boolean),
        at: new Date(r.at).toISOString(),
      },
    ]),
  );
}
