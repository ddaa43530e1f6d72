import type { TestVerdict } from '../../history/flaky.js';

/**
 * Characters that make a spreadsheet read a cell as a formula when they lead it: OWASP's CSV
 * Injection page (=, +, -, @, tab, carriage return) and ASVS 1.2.10 (which adds NUL).
 */
const FORMULA_LEAD = /^[=+\-@\t\r\0]/;

/**
 * One CSV field. Text (names, files, services: what tests and CI jobs chose) is quoted as RFC
 * 4180 §2.6-2.7 says, and one that a spreadsheet would take for a formula gets a leading `'`,
 * which spreadsheets read as "this is text" (OWASP, CSV Injection). Numbers are written as they are.
 */
function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = String(value);
  return `"${(FORMULA_LEAD.test(text) ? `'${text}` : text).replace(/"/g, '""')}"`;
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
