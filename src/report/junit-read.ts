import { SeedforkError } from '../errors/seedfork-error.js';
import type { TestCaseResult } from './types.js';
import { XMLParser } from './xml.js';

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  textNodeName: '#text',
  isArray: (name) =>
    [
      'testsuite',
      'testcase',
      'failure',
      'error',
      'skipped',
      'flakyFailure',
      'flakyError',
      'rerunFailure',
      'rerunError',
    ].includes(name),
  parseAttributeValue: false,
  processEntities: true,
  // Numeric character references (&#10; in pytest's failure messages) too.
  htmlEntities: true,
});

function text(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object') return String((node as Node)['#text'] ?? '');
  return '';
}

/** A `<failure>`-like element's first message line (its `message` attribute, else its text's
 * first line, else the element's name) and its text; Surefire's rerun elements keep the text in
 * a `<stackTrace>` child. */
function problemOf(element: unknown, key: string): { message: string; details: string } {
  const attrs = (typeof element === 'object' && element ? element : {}) as Node;
  const body = text((attrs.stackTrace as unknown) ?? element).trim();
  const message =
    String(attrs.message ?? '')
      .trim()
      .split('\n')[0] ||
    body.split('\n')[0] ||
    key;
  return { message: withHookCause(message, body), details: body };
}

/**
 * node:test reports a test whose hook threw as "failed running before hook" and puts the hook's
 * own error in the text as `cause: …`: the message gets that cause, so the one line says why.
 */
function withHookCause(message: string, body: string): string {
  if (!/^failed running \w+ hook$/.test(message)) return message;
  const cause = /^\s*cause: (.+)$/m.exec(body)?.[1];
  return cause ? `${message}: ${cause.trim()}` : message;
}

function firstProblem(tc: Node): { message: string; details: string } | undefined {
  for (const key of ['failure', 'error']) {
    const list = tc[key] as unknown[] | undefined;
    if (list && list.length > 0) return problemOf(list[0], key);
  }
  return undefined;
}

/** Surefire's reruns of a test case: `<flakyFailure>` (before the pass) or `<rerunFailure>`
 * (after the first failure) children, each with a message and a stack trace. */
function attempts(tc: Node, keys: string[]): { message: string; details?: string }[] {
  return keys.flatMap((key) =>
    ((tc[key] as unknown[] | undefined) ?? []).map((f) => {
      const { message, details } = problemOf(f, key);
      return details ? { message, details } : { message };
    }),
  );
}

/**
 * When the run of a parsed JUnit XML report started, as its `<testsuites>` or first timed
 * `<testsuite>` says in its `timestamp` attribute (ISO 8601; Surefire, Jest and pytest write
 * it): ms since the epoch, or undefined when absent or not a date. A timestamp without a zone
 * is read as UTC.
 */
function timestampOf(doc: Node): number | undefined {
  const root = ((doc.testsuites as Node | undefined) ?? doc) as Node;
  const candidates = [
    root.timestamp,
    ...((root.testsuite as Node[] | undefined) ?? []).map((s) => s.timestamp),
  ];
  for (const value of candidates) {
    if (typeof value !== 'string' || !value) continue;
    const zoned = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
    const ms = Date.parse(zoned);
    if (Number.isFinite(ms)) return ms;
  }
  return undefined;
}

/**
 * The document before its root element (declaration, comments, DOCTYPE): where entity
 * declarations live.
 */
function prolog(xml: string): string {
  const root = /<[A-Za-z_]/.exec(xml);
  return root ? xml.slice(0, root.index) : xml;
}

/**
 * @throws SeedforkError on entity declarations, which no JUnit writer emits and which are how
 *   entity-expansion ("billion laughs") and external-entity (XXE) attacks work
 *   (OWASP XML External Entity Prevention Cheat Sheet), or on XML that does not parse
 */
function parse(xml: string): Node {
  if (/<!ENTITY/i.test(prolog(xml)))
    throw new SeedforkError(
      'the report declares XML entities (<!ENTITY>): refused, since no JUnit writer needs them and they are how entity-expansion (billion laughs) and external-entity attacks work',
    );
  try {
    return parser.parse(xml, true) as Node;
  } catch (error) {
    throw new SeedforkError(`malformed JUnit XML: ${(error as Error).message}`, { cause: error });
  }
}

/** Suite names that add nothing to a test's name: the file (Vitest, Jest) or a root suite. */
const ANONYMOUS_SUITE = /\.(c|m)?[jt]sx?$|^vitest tests$|^root$/;

/**
 * Call `visit` for every `<testcase>`, with the chain of enclosing `<testsuite>` elements
 * (outermost first), nested or not, under `<testsuites>` or a bare `<testsuite>`.
 */
function eachTestCase(doc: Node, visit: (tc: Node, suites: Node[]) => void): void {
  const walk = (node: Node, suites: Node[]) => {
    for (const tc of (node.testcase as Node[] | undefined) ?? []) visit(tc, suites);
    for (const suite of (node.testsuite as Node[] | undefined) ?? []) walk(suite, [...suites, suite]);
  };
  const root = (doc.testsuites as Node | undefined) ?? doc;
  walk(typeof root === 'object' && root ? root : {}, []);
}

const seconds = (node: Node) => Math.round(Number(node.time ?? 0) * 1000 * 1000) / 1000;

/**
 * Read test cases from JUnit XML as written by node:test, Vitest, Jest, pytest, go-junit-report
 * and Maven Surefire: `<testsuites>`/`<testsuite>` (nested or not) holding `<testcase>` elements
 * with `<failure>`, `<error>` or `<skipped>` children. Times are seconds in the XML, ms here.
 * Format reference: the Surefire XML schema (surefire-test-report.xsd) and the JUnit XML
 * conventions documented by the testmoapp/junitxml project.
 * @throws SeedforkError when the XML cannot be parsed.
 */
export function readJUnit(xml: string): TestCaseResult[] {
  return readJUnitReport(xml).cases;
}

/**
 * `readJUnit`'s test cases and, from the same parse, when the run started (see `timestampOf`:
 * epoch ms, or undefined when the report does not say).
 * @throws SeedforkError when the XML cannot be parsed.
 */
export function readJUnitReport(xml: string): { cases: TestCaseResult[]; timestamp?: number } {
  const doc = parse(xml);
  const cases: TestCaseResult[] = [];
  eachTestCase(doc, (tc, suites) => {
    const names = suites.map((s) => String(s.name ?? '')).filter((n) => n && !ANONYMOUS_SUITE.test(n));
    const problem = firstProblem(tc);
    const skipped = Array.isArray(tc.skipped) && tc.skipped.length > 0;
    // Surefire marks a test that passed on a rerun with <flakyFailure>/<flakyError> children.
    const flakyFailures = attempts(tc, ['flakyFailure', 'flakyError']);
    const rerunFailures = attempts(tc, ['rerunFailure', 'rerunError']);
    cases.push({
      name: [...names, String(tc.name ?? '(unnamed)')].join(' > '),
      classname: String(tc.classname ?? ''),
      status: problem ? 'failed' : skipped ? 'skipped' : flakyFailures.length > 0 ? 'flaky' : 'passed',
      durationMs: seconds(tc),
      ...(problem ? { message: problem.message, details: problem.details } : {}),
      ...(flakyFailures.length > 0 ? { flakyFailures } : {}),
      ...(rerunFailures.length > 0 ? { rerunFailures } : {}),
    });
  });
  const timestamp = timestampOf(doc);
  return timestamp === undefined ? { cases } : { cases, timestamp };
}

/** A test case's duration and the strings that may name its test file. */
export interface JUnitCaseLocation {
  /** In order of trust: the case's `file` attribute, its suites' `file` attributes and names
   * (innermost first), its `classname`. Any may be a path, a module path or neither. */
  candidates: string[];
  durationMs: number;
}

/**
 * Where each test case of a JUnit XML report came from, for reading timings out of reports
 * written by other runners (Jest/Vitest put the file in the suite name, pytest and
 * Surefire in `file` or `classname`).
 * @throws SeedforkError when the XML cannot be parsed.
 */
export function readJUnitLocations(xml: string): JUnitCaseLocation[] {
  const cases: JUnitCaseLocation[] = [];
  eachTestCase(parse(xml), (tc, suites) => {
    const candidates = [
      tc.file,
      ...[...suites].reverse().flatMap((s) => [s.file, s.name]),
      tc.classname,
    ].filter((c): c is string => typeof c === 'string' && c.length > 0);
    cases.push({ candidates, durationMs: seconds(tc) });
  });
  return cases;
}
