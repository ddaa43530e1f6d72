import type { TestCaseResult } from '../report/types.js';

/** Lines of a failed test's body the console shows under its name, at most. */
export const FAILURE_LINES = 12;

/** Characters of one such line, at most (a serialized object on one line, a minified source). */
export const FAILURE_LINE_CHARS = 300;

/** A stack frame of a runner's, a library's or Node's own code, not the project's. */
const FOREIGN_FRAME = /^\s*at .*(node_modules\/|node:internal\/|\(<anonymous>\)|\(node:)/;

/**
 * What the console shows of a failed test beyond its first line: the rest of its failure body
 * (the runner's diff: `Expected: 2` / `Received: 1`, a code frame, the project's stack frames),
 * without the frames of node_modules and Node's internals (as Jest and Vitest leave them out)
 * and without blank lines at its ends, at most {@link FAILURE_LINES} lines, then how many more
 * there are; a line longer than {@link FAILURE_LINE_CHARS} is cut with `…`. The whole body stays
 * in the JSON result and the JUnit XML.
 * @param test a failed test case; its `details` (the body) may repeat `message` on its first line
 * @returns the lines, unindented; none when there is nothing beyond the message
 */
export function failureDetail(test: Pick<TestCaseResult, 'message' | 'details'>): string[] {
  if (!test.details) return [];
  let lines = test.details.replace(/\r\n?/g, '\n').split('\n');
  const first = (test.message ?? '').split('\n')[0]!.trim();
  if (first && lines[0]!.trim() === first) lines = lines.slice(1);
  lines = lines
    .filter((line) => !FOREIGN_FRAME.test(line))
    .map((line) => (line.length > FAILURE_LINE_CHARS ? `${line.slice(0, FAILURE_LINE_CHARS - 1)}…` : line));
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  while (lines.length > 0 && lines.at(-1)!.trim() === '') lines.pop();
  if (lines.length <= FAILURE_LINES) return lines;
  const more = lines.length - (FAILURE_LINES - 1);
  return [...lines.slice(0, FAILURE_LINES - 1), `… ${more} more lines (all of them in the JSON result)`];
}
