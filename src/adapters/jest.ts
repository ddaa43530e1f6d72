import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { TestCaseResult } from '../report/types.js';
import { requireNodeBin } from './find-bin.js';
import { jestCacheDir } from './jest-cache.js';
import { fullNamePattern } from './name-pattern.js';
import { jsonComplete, parseJsonReport } from './report-formats.js';
import type { Adapter, ParsedReport } from './types.js';

/** One test of Jest's `--json` output (`AssertionResult` in @jest/test-result). */
export interface JestAssertion {
  ancestorTitles?: string[];
  title?: string;
  status?: string;
  duration?: number | null;
  failureMessages?: string[];
}

/** One file of Jest's `--json` output (`FormattedTestResult`). */
export interface JestFileResult {
  name?: string;
  message?: string;
  assertionResults?: JestAssertion[];
}

const clean = (text: string) => stripVTControlCharacters(text).trim();

/** Map Jest's assertion status to ours: `pending`, `todo`, `skipped` and `disabled` are skipped. */
function statusOf(status: string | undefined): TestCaseResult['status'] {
  if (status === 'passed') return 'passed';
  if (status === 'failed') return 'failed';
  return 'skipped';
}

/**
 * Read Jest's `--json` results: every assertion with its `describe` titles, status, duration
 * and failure messages (colour codes removed). A file that failed to load (syntax error,
 * throwing `beforeAll`) reports its message as the report's error.
 * Shape: https://jestjs.io/docs/cli#--json and @jest/test-result's `FormattedTestResults`.
 * @throws SeedforkError when the text is not Jest's JSON.
 */
export function parseJestJson(text: string): ParsedReport {
  const doc = parseJsonReport<{ testResults?: JestFileResult[]; success?: boolean }>(text, 'Jest');
  if (!doc || !Array.isArray(doc.testResults))
    throw new SeedforkError('malformed Jest JSON results: no testResults array');
  const report = jestReport(doc.testResults);
  return typeof doc.success === 'boolean' ? { ...report, exitCode: doc.success ? 0 : 1 } : report;
}

/**
 * How long jest-worker waits for a worker it told to exit before it kills it, in ms
 * (`FORCE_EXIT_DELAY` in jest-worker's `workers/*Worker`; Jest 27-30).
 */
export const JEST_FORCE_EXIT_MS = 500;

/** What Jest prints when it force-exits a worker that did not exit (jest-worker's warning), and
 * what seedfork carries into the file's result when it does the same. */
export const JEST_FORCE_EXIT_WARNING =
  'A worker process has failed to exit gracefully and has been force exited. This is likely caused by tests leaking due to improper teardown. Try running with --detectOpenHandles to find leaks. Active timers can also cause this, ensure that .unref() was called on them.';

/**
 * The test cases of Jest's per-file results, in the shape of its `--json` output
 * (`FormattedTestResult`: `assertionResults`, and `message` for what failed outside any test).
 * A Jest worker's TestResult maps onto it: `testResults` are the assertion results,
 * `failureMessage` the message.
 */
export function jestReport(files: JestFileResult[]): ParsedReport {
  const tests: TestCaseResult[] = [];
  const errors: string[] = [];
  for (const file of files) {
    const assertions = file.assertionResults ?? [];
    for (const a of assertions) {
      const status = statusOf(a.status);
      const details = clean((a.failureMessages ?? []).join('\n'));
      const name = [...(a.ancestorTitles ?? []), a.title ?? '(unnamed)'].filter((s) => s !== '').join(' > ');
      tests.push({
        name,
        classname: a.ancestorTitles?.join(' ') ?? '',
        status,
        durationMs: a.duration ?? 0,
        ...(status === 'failed' ? { message: details.split('\n')[0] || 'failed', details } : {}),
      });
    }
    // Jest repeats assertion failures in `message`; only a file-level failure is worth keeping.
    if (file.message && !assertions.some((a) => a.status === 'failed')) errors.push(clean(file.message));
  }
  return errors.length > 0 ? { tests, error: errors.join('\n') } : { tests };
}

/** The Jest majors seedfork runs and tests (the CLI adapter, the worker zygote, seedfork/jest). */
export const JEST_MAJORS = { min: 27, max: 30 } as const;

/**
 * The version of the project's Jest (from the package.json beside its `jest` bin), or undefined
 * when it cannot be read.
 */
export function jestVersion(root: string): string | undefined {
  try {
    const bin = realpathSync(requireNodeBin(root, 'jest', 'jest'));
    // node_modules/jest/bin/jest.js or node_modules/jest-cli/bin/jest.js
    const pkg = JSON.parse(readFileSync(join(dirname(bin), '..', 'package.json'), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuse a Jest older than {@link JEST_MAJORS}: Jest 26 and older have another worker API (the
 * zygote's), another runner interface (seedfork/jest) and no per-test durations in their JSON.
 * @throws SeedforkError naming the version and the upgrade.
 */
export function checkJestVersion(root: string): void {
  const version = jestVersion(root);
  const major = version ? Number.parseInt(version, 10) : Number.NaN;
  if (Number.isFinite(major) && major < JEST_MAJORS.min)
    throw new SeedforkError(
      `Jest ${version} is not supported: seedfork runs Jest ${JEST_MAJORS.min} to ${JEST_MAJORS.max}`,
      {
        hint:
          'Upgrade Jest: npm install --save-dev jest@29 (and ts-jest@29 or babel-jest@29 with it; ' +
          'https://jestjs.io/docs/upgrading-to-jest29). Or run it as a plain command, with file-level ' +
          "results only: test.runner { command: 'npx jest --ci --runTestsByPath {files}' }.",
      },
    );
}

/** Whether the project runs Jest on native ES modules (needs `--experimental-vm-modules`). */
function isEsmProject(root: string): boolean {
  if (['jest.config.mjs', 'jest.config.mts'].some((f) => existsSync(join(root, f)))) return true;
  try {
    return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).type === 'module';
  } catch {
    return false;
  }
}

export { jestCacheDir };

/**
 * Jest 27 to 30 (older: a clear error at preflight), one process per test file, with its own JSON results
 * (`--json --outputFile`): no reporter to install. The project's Jest config is found by Jest
 * itself from the root. `--runTestsByPath` takes the paths literally; `-t` filters test cases
 * by full name. Projects of native ES modules (`"type": "module"`, `jest.config.mjs`) get
 * `--experimental-vm-modules` in NODE_OPTIONS, as Jest's ESM docs require
 * (https://jestjs.io/docs/ecmascript-modules).
 */
export const jestAdapter: Adapter = {
  name: 'jest',
  filtersTests: true,
  command: (files, ctx) => [
    requireNodeBin(ctx.root, 'jest', 'jest'),
    '--ci',
    // Jest's default cache is under /tmp, which every sandbox gets fresh: one kept warm instead
    `--cacheDirectory=${jestCacheDir(ctx.root)}`,
    '--json',
    `--outputFile=${ctx.reportDir}/jest.json`,
    ...(ctx.testNames ? ['--testNamePattern', fullNamePattern(ctx.testNames)] : []),
    ...(ctx.updateSnapshots ? ['--updateSnapshot'] : []),
    '--runTestsByPath',
    ...files,
  ],
  env(ctx, env): Record<string, string> {
    if (!isEsmProject(ctx.root) || /--experimental-vm-modules/.test(env.NODE_OPTIONS ?? '')) return {};
    return { NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() };
  },
  caches: (root) => [join(root, 'node_modules/.cache')],
  results: (ctx) => ({ kind: 'file', path: `${ctx.reportDir}/jest.json` }),
  parse: (text) => parseJestJson(text),
  complete: jsonComplete,
  // jest-worker's semantics, what a project running `jest -w N` sees; in band (`jest -i`) Jest
  // would print "did not exit one second after the test run has completed" and wait instead
  exitSemantics: { kind: 'force-exit', afterMs: JEST_FORCE_EXIT_MS, warning: JEST_FORCE_EXIT_WARNING },
  check: (root) => {
    requireNodeBin(root, 'jest', 'jest');
    checkJestVersion(root);
  },
};
