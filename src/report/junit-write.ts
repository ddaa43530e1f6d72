import { hostname } from 'node:os';
import { type AttemptFailure, type FileResult, isFailure, type RunResult } from './types.js';
import { XMLBuilder } from './xml.js';

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  format: true,
  suppressEmptyNode: true,
  processEntities: true,
});

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/**
 * Text as XML 1.0 allows it (https://www.w3.org/TR/xml/#charsets: tab, newline, carriage return,
 * U+0020-U+D7FF, U+E000-U+FFFD and the astral planes): ANSI colour sequences dropped, any other
 * character outside that set (ESC, BEL, NUL, a lone surrogate) written as a visible `\uXXXX`,
 * so that a test name or output with control characters never makes the document invalid.
 */
export function clean(text: string): string {
  return text
    .replace(ANSI_COLOUR, '')
    .replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC is the point
const ANSI_COLOUR = /\u001b\[[0-9;]*m/g;
const NOT_XML =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching what XML 1.0 forbids is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A `<flakyFailure>`/`<rerunFailure>` body as Surefire writes it: the trace in `<stackTrace>`. */
function attemptElement(f: AttemptFailure): Record<string, unknown> {
  return {
    '@message': clean(f.message),
    '@type': 'AssertionError',
    stackTrace: clean(f.details ?? f.message),
  };
}

function suite(file: FileResult, timestamp: string): Record<string, unknown> {
  const cases: Record<string, unknown>[] = file.tests.map((t) => {
    const tc: Record<string, unknown> = {
      '@classname': clean(t.classname || file.file),
      '@name': clean(t.name),
      '@time': seconds(t.durationMs),
    };
    if (t.status === 'failed') {
      tc.failure = {
        '@message': clean(t.message ?? 'failed'),
        '@type': 'AssertionError',
        '#text': clean(t.details ?? ''),
      };
      if (t.rerunFailures?.length) tc.rerunFailure = t.rerunFailures.map(attemptElement);
    }
    if (t.status === 'flaky') tc.flakyFailure = (t.flakyFailures ?? []).map(attemptElement);
    if (t.status === 'skipped') tc.skipped = '';
    // a property per test case, as Surefire writes them; CI systems show them beside the test
    if (t.quarantined !== undefined) {
      tc.properties = { property: { '@name': 'seedfork.quarantined', '@value': clean(t.quarantined) } };
    }
    return tc;
  });
  if (isFailure(file.status) && !file.tests.some((t) => t.status === 'failed')) {
    // The file failed without a failing test case (crash, timeout, sandbox error): say so.
    cases.push({
      '@classname': clean(file.file),
      '@name': '(file)',
      '@time': seconds(file.durationMs),
      error: {
        '@message': clean(file.error ?? `exited with ${file.exitCode}`),
        '#text': clean(file.output.slice(-20_000)),
      },
    });
  }
  const failures = file.tests.filter((t) => t.status === 'failed').length;
  return {
    '@name': clean(file.file),
    '@tests': cases.length,
    '@failures': failures,
    '@errors': cases.length - file.tests.length,
    '@skipped': file.tests.filter((t) => t.status === 'skipped').length,
    '@time': seconds(file.durationMs),
    '@timestamp': timestamp,
    '@hostname': file.sandboxId ? `sandbox-${file.sandboxId}` : hostname(),
    testcase: cases,
    ...(file.status !== 'passed' && file.output ? { 'system-out': clean(file.output.slice(-100_000)) } : {}),
    // the runner's warnings (a worker it force-exited), where CI systems show a suite's stderr
    ...(file.warnings?.length ? { 'system-err': clean(file.warnings.join('\n\n')) } : {}),
  };
}

/** Cases of a file's `<testsuite>`: its tests, and one for the file when it failed without a
 * failing test. */
function caseCount(file: FileResult): number {
  return (
    file.tests.length + (isFailure(file.status) && !file.tests.some((t) => t.status === 'failed') ? 1 : 0)
  );
}

/**
 * One JUnit XML document for a whole run: a `<testsuite>` per test file under `<testsuites>`,
 * in the Surefire/Jenkins dialect CI systems read (times in seconds). Retried tests carry
 * Surefire's rerun elements: a flaky test passes with `<flakyFailure>` children, a test that
 * failed every attempt has its first `<failure>` and then `<rerunFailure>` children
 * (https://maven.apache.org/surefire/maven-surefire-plugin/examples/rerun-failing-tests.html).
 * Yielded in pieces, one `<testsuite>` at a time, so that a run of any size is written
 * without the whole document in memory (or over V8's longest string).
 */
export function* junitChunks(result: RunResult): Generator<string> {
  const sum = (count: (f: FileResult) => number) => result.files.reduce((n, f) => n + count(f), 0);
  const cases = sum(caseCount);
  const tests = sum((f) => f.tests.length);
  const attributes = {
    '@name': 'seedfork',
    '@tests': cases,
    '@failures': sum((f) => f.tests.filter((t) => t.status === 'failed').length),
    '@errors': cases - tests,
    '@skipped': sum((f) => f.tests.filter((t) => t.status === 'skipped').length),
    '@time': seconds(result.durationMs),
  };
  const declaration = { '@version': '1.0', '@encoding': 'UTF-8' };
  if (result.files.length === 0) {
    yield builder.build({ '?xml': declaration, testsuites: attributes }) as string;
    return;
  }
  // the suites go between `<testsuites ...>` and `</testsuites>`, one level in
  const mark = 'SEEDFORK-SUITES';
  const frame = builder.build({
    '?xml': declaration,
    testsuites: { ...attributes, '#text': mark },
  }) as string;
  const [open, close] = frame.split(mark) as [string, string];
  yield `${open}\n`;
  for (const file of result.files) {
    const xml = builder.build({ testsuite: suite(file, result.startedAt) }) as string;
    yield xml.replace(/^(?=.)/gm, '  ');
  }
  yield close;
}

/** {@link junitChunks} as one string (for tests and small runs). */
export function writeJUnit(result: RunResult): string {
  return [...junitChunks(result)].join('');
}
