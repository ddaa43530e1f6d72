/** Escape a string for use inside a regular expression. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A regular expression matching exactly the given test cases, for `node --test-name-pattern`
 * and `vitest --testNamePattern`. Names are full names (`suite > test`); runners match the
 * test's own name (Node) or the suite-joined name (Vitest), so the pattern matches the last
 * segment as a whole word at the end.
 */
export function namePattern(names: string[]): string {
  const last = names.map((n) => escapeRegExp(n.split(' > ').at(-1)!));
  return `(?:^|\\s)(?:${last.join('|')})$`;
}
