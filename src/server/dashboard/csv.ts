import type { TestVerdict } from '../../history/flaky.js';

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function csvField(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The verdicts as CSV (RFC 4180), one row per test, the columns of `seedfork flaky --json`. */
export function verdictsCsv(verdicts: TestVerdict[]): string {
  const columns = [
    'service',
    'file',
    'name',
    'status',
    'runs',
    'failures',
    'flakyRuns',
    'flakeRate',
  ] as const;
  const rows = verdicts.map((v) =>
    [
      ...columns.map((k) => csvField(v[k])),
      csvField(v.firstFlakyAt === undefined ? '' : new Date(v.firstFlakyAt).toISOString()),
      csvField(v.lastFailureAt === undefined ? '' : new Date(v.lastFailureAt).toISOString()),
      csvField(v.audit?.category),
    ].join(','),
  );
  return `${[...columns, 'firstFlakyAt', 'lastFailureAt', 'audit'].join(',')}\r\n${rows.map((r) => `${r}\r\n`).join('')}`;
}
