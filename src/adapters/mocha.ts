import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestCaseResult } from '../report/types.js';
import { requireNodeBin } from './find-bin.js';
import { fullNamePattern } from './name-pattern.js';
import { jsonComplete, parseJsonReport } from './report-formats.js';
import type { Adapter, ParsedReport } from './types.js';

/** One test of Mocha's JSON reporter (lib/reporters/json.js `clean()`). */
interface MochaTest {
  title?: string;
  fullTitle?: string;
  duration?: number;
  err?: { message?: string; stack?: string };
}

interface MochaJson {
  tests?: MochaTest[];
  pending?: MochaTest[];
  failures?: MochaTest[];
}

/** `parent > title`: Mocha's JSON gives each test's own title and its space-joined full title. */
function fullName(t: MochaTest): string {
  const title = t.title ?? '(unnamed)';
  const full = t.fullTitle ?? title;
  const parent = full.endsWith(` ${title}`) ? full.slice(0, -title.length - 1) : '';
  return parent ? `${parent} > ${title}` : title;
}

/**
 * Read Mocha's JSON reporter output: `tests` with `failures` and `pending` marking the failed
 * and skipped ones. A failing hook (`"before all" hook for …`) is not a test: it is the
 * report's error. Docs: https://mochajs.org/#json
 * @throws SeedforkError when the text is not Mocha's JSON.
 */
export function parseMochaJson(text: string): ParsedReport {
  const doc = parseJsonReport<MochaJson>(text, 'Mocha');
  const failed = new Map((doc.failures ?? []).map((t) => [t.fullTitle, t]));
  const pending = new Set((doc.pending ?? []).map((t) => t.fullTitle));
  const tests: TestCaseResult[] = (doc.tests ?? []).map((t) => {
    const failure = failed.get(t.fullTitle);
    const status = failure ? 'failed' : pending.has(t.fullTitle) ? 'skipped' : 'passed';
    const details = failure?.err?.stack ?? failure?.err?.message ?? '';
    return {
      name: fullName(t),
      classname: '',
      status,
      durationMs: t.duration ?? 0,
      ...(failure ? { message: failure.err?.message?.split('\n')[0] || 'failed', details } : {}),
    };
  });
  const names = new Set((doc.tests ?? []).map((t) => t.fullTitle));
  const hooks = (doc.failures ?? []).filter((t) => !names.has(t.fullTitle));
  const error = hooks.map((h) => `${h.fullTitle}: ${h.err?.stack ?? h.err?.message ?? 'failed'}`).join('\n');
  return error ? { tests, error } : { tests };
}

/** The wrapper config (see mocha-rc.cts), next to this file in the built package. */
const RC = join(dirname(fileURLToPath(import.meta.url)), 'mocha-rc.cjs');

/**
 * Mocha with its built-in JSON reporter written to a file (`--reporter-option output=`, Mocha
 * ≥ 9.2); `--grep` with an anchored full title filters test cases. The project's .mocharc
 * and package.json `mocha` key apply, minus their `spec` globs (see mocha-rc.cts).
 * Docs: https://mochajs.org/#command-line-usage
 */
export const mochaAdapter: Adapter = {
  name: 'mocha',
  filtersTests: true,
  command: (files, ctx) => [
    requireNodeBin(ctx.root, 'mocha', 'mocha'),
    '--config',
    RC,
    '--no-package',
    '--reporter',
    'json',
    '--reporter-option',
    `output=${ctx.reportDir}/mocha.json`,
    ...(ctx.testNames ? ['--grep', fullNamePattern(ctx.testNames)] : []),
    ...files,
  ],
  env: (ctx) => ({
    SEEDFORK_MOCHA_ROOT: ctx.root,
    SEEDFORK_MOCHA_CONFIG_LOADER: join(
      dirname(realpathSync(requireNodeBin(ctx.root, 'mocha', 'mocha'))),
      '../lib/cli/config.cjs',
    ),
  }),
  caches: (root) => [join(root, 'node_modules/.cache')], // babel, ts-node and friends
  results: (ctx) => ({ kind: 'file', path: `${ctx.reportDir}/mocha.json` }),
  parse: (text) => parseMochaJson(text),
  complete: jsonComplete,
  exitSemantics: {
    kind: 'wait',
    hint: 'Mocha (since v4) waits for whatever the file left open (a server, a timer, a pool): close it in an after hook, or set `exit: true` in .mocharc as `mocha --exit` does.',
  },
  check: (root) => void requireNodeBin(root, 'mocha', 'mocha'),
};
