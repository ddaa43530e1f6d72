/** Escape a string for use inside a regular expression. */
export function escapeRegExp(text: string): string {
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

/**
 * A regular expression matching exactly the given full names with their segments joined by
 * spaces, as Jest's `-t` (`describe` titles + test title) and Mocha's `--grep` (`fullTitle()`)
 * match them. Docs: https://jestjs.io/docs/cli#--testnamepatternregex,
 * https://mochajs.org/#-grep-regexp-g-regexp
 */
export function fullNamePattern(names: string[]): string {
  return `^(?:${names.map((n) => escapeRegExp(n.split(' > ').join(' '))).join('|')})$`;
}
