import { isAbsolute, join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import type { TestCaseResult } from '../report/types.js';
import { requireNodeBin } from './find-bin.js';
import { escapeRegExp } from './name-pattern.js';
import { jsonComplete, parseJsonReport } from './report-formats.js';
import type { Adapter, ParsedReport } from './types.js';

/** The parts of Playwright's JSON report read here (`JSONReport` in @playwright/test/reporter). */
interface PwResult {
  status?: string;
  duration?: number;
  error?: { message?: string; stack?: string };
  errors?: { message?: string }[];
}
interface PwTest {
  projectName?: string;
  status?: 'expected' | 'unexpected' | 'flaky' | 'skipped';
  results?: PwResult[];
}
interface PwSpec {
  title?: string;
  tests?: PwTest[];
}
interface PwSuite {
  title?: string;
  file?: string;
  specs?: PwSpec[];
  suites?: PwSuite[];
}
interface PwReport {
  suites?: PwSuite[];
  errors?: { message?: string; stack?: string }[];
}

const STATUS: Record<string, TestCaseResult['status']> = {
  expected: 'passed',
  unexpected: 'failed',
  flaky: 'flaky',
  skipped: 'skipped',
};

/**
 * Read Playwright's JSON report: one case per spec and project, named by its `describe`
 * titles and its own title (prefixed `[project]` when the run had several projects), with
 * Playwright's own outcome (`flaky` when it passed on one of Playwright's retries).
 * Shape: https://playwright.dev/docs/test-reporters#json-reporter
 * @throws SeedforkError when the text is not Playwright's JSON.
 */
export function parsePlaywrightJson(text: string): ParsedReport {
  const doc = parseJsonReport<PwReport>(text, 'Playwright');
  const found: { titles: string[]; test: PwTest }[] = [];
  const walk = (suite: PwSuite, titles: string[]) => {
    for (const spec of suite.specs ?? [])
      for (const test of spec.tests ?? [])
        found.push({ titles: [...titles, spec.title ?? '(unnamed)'], test });
    for (const child of suite.suites ?? []) walk(child, child.title ? [...titles, child.title] : titles);
  };
  // The top-level suites are the files; their titles are paths, not names.
  for (const file of doc.suites ?? []) walk(file, []);
  const projects = new Set(found.map((f) => f.test.projectName ?? ''));
  const tests = found.map(({ titles, test }): TestCaseResult => {
    const last = test.results?.at(-1);
    const firstFailure = test.results?.find((r) => r.error || (r.errors ?? []).length > 0);
    const status = STATUS[test.status ?? ''] ?? 'failed';
    const failure = status === 'failed' ? last : status === 'flaky' ? firstFailure : undefined;
    const raw = failure?.error?.message ?? failure?.errors?.[0]?.message;
    const message = raw === undefined ? undefined : stripVTControlCharacters(raw);
    const prefix = projects.size > 1 && test.projectName ? [`[${test.projectName}]`] : [];
    return {
      name: [...prefix, ...titles].join(' > '),
      classname: test.projectName ?? '',
      status,
      durationMs: last?.duration ?? 0,
      ...(status === 'failed'
        ? {
            message: message?.split('\n')[0] || `failed (${last?.status ?? 'no result'})`,
            details: stripVTControlCharacters(failure?.error?.stack ?? message ?? ''),
          }
        : {}),
      ...(status === 'flaky' ? { flakyFailures: [{ message: message?.split('\n')[0] || 'failed' }] } : {}),
    };
  });
  const error = (doc.errors ?? []).map((e) => e.stack ?? e.message ?? '').join('\n');
  return error ? { tests, error } : { tests };
}

/** `[project] > a > b` → `a b`: the titles as Playwright's grep sees them. */
const grepTitle = (name: string) =>
  name
    .split(' > ')
    .filter((s, i) => !(i === 0 && /^\[.*\]$/.test(s)))
    .join(' ');

/**
 * Playwright Test (`@playwright/test`), with the list reporter on stdout and the JSON reporter
 * to a file (PLAYWRIGHT_JSON_OUTPUT_NAME). Files are passed as anchored, escaped regular
 * expressions of their absolute paths (Playwright reads file arguments as regular
 * expressions); `-g` filters test cases by title. The browser comes from the project's config
 * (for Debian's Chromium: `use: { launchOptions: { executablePath: '/usr/bin/chromium' } }`).
 * Traces and screenshots under `test-results/` are artifacts.
 * Docs: https://playwright.dev/docs/test-cli
 */
export const playwrightAdapter: Adapter = {
  name: 'playwright',
  filtersTests: true,
  artifacts: ['test-results/**'],
  command: (files, ctx) => [
    requireNodeBin(ctx.root, 'playwright', '@playwright/test'),
    'test',
    '--reporter=list,json',
    ...(ctx.testNames
      ? ['-g', `(?:^|\\s)(?:${ctx.testNames.map((n) => escapeRegExp(grepTitle(n))).join('|')})(?:$|\\s@)`]
      : []),
    ...(ctx.updateSnapshots ? ['--update-snapshots'] : []),
    ...files.map((f) => `^${escapeRegExp(isAbsolute(f) ? f : join(ctx.root, f))}$`),
  ],
  env: (ctx) => ({ PLAYWRIGHT_JSON_OUTPUT_NAME: `${ctx.reportDir}/playwright.json` }),
  results: (ctx) => ({ kind: 'file', path: `${ctx.reportDir}/playwright.json` }),
  parse: (text) => parsePlaywrightJson(text),
  complete: jsonComplete,
  // Playwright Test stops its workers after their last test, whatever they hold
  exitSemantics: {
    kind: 'force-exit',
    warning: 'Playwright Test did not exit after its last result; ended, as it ends its own workers.',
  },
  check: (root) => void requireNodeBin(root, 'playwright', '@playwright/test'),
};
