import { readFileSync } from 'node:fs';

/**
 * The JSON results Jest (`--json`) and Vitest (`--reporter=json`) write, reduced to
 * `describe > test` name → status as seedfork names them (`pending`/`todo` are `skipped`).
 */
export function runnerJsonStatuses(path: string): Record<string, string> {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as {
    testResults: { assertionResults: { ancestorTitles: string[]; title: string; status: string }[] }[];
  };
  const status = (s: string) => (s === 'pending' || s === 'todo' ? 'skipped' : s);
  return Object.fromEntries(
    doc.testResults.flatMap((f) =>
      f.assertionResults.map((a) => [[...a.ancestorTitles, a.title].join(' > '), status(a.status)]),
    ),
  );
}
