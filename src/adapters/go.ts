import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { TestCaseResult } from '../report/types.js';
import { findOnPath } from './find-bin.js';
import { escapeRegExp } from './name-pattern.js';
import type { Adapter, ParsedReport } from './types.js';

/** One line of `go test -json` (test2json's TestEvent: https://pkg.go.dev/cmd/test2json). */
interface TestEvent {
  Action?: string;
  Package?: string;
  Test?: string;
  Elapsed?: number;
  Output?: string;
}

function events(text: string): TestEvent[] {
  const out: TestEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue; // build errors and other non-JSON output
    try {
      out.push(JSON.parse(line) as TestEvent);
    } catch {
      // a line cut off by a kill
    }
  }
  return out;
}

const DONE = new Set(['pass', 'fail', 'skip']);

/**
 * Read `go test -json` output: a case per test and subtest (`TestA/sub` → `TestA > sub`), with
 * its elapsed time and, when it failed, its own output as the details. A package that failed
 * with no failing test (a build error, a panic in TestMain) gives the report's error.
 */
export function parseGoTestJson(text: string): ParsedReport {
  const cases = new Map<string, { status?: string; elapsed: number; output: string[] }>();
  const packageFailures: string[] = [];
  for (const e of events(text)) {
    if (!e.Test) {
      if (e.Action === 'fail') packageFailures.push(e.Package ?? '(package)');
      continue;
    }
    const c = cases.get(e.Test) ?? { elapsed: 0, output: [] };
    cases.set(e.Test, c);
    if (e.Action === 'output' && e.Output) c.output.push(e.Output);
    else if (e.Action && DONE.has(e.Action)) {
      c.status = e.Action;
      c.elapsed = e.Elapsed ?? 0;
    }
  }
  const tests: TestCaseResult[] = [...cases].map(([name, c]) => {
    const status = c.status === 'pass' ? 'passed' : c.status === 'skip' ? 'skipped' : 'failed';
    const details = c.output.join('').trimEnd();
    const message =
      c.output.map((l) => l.trim()).find((l) => l && !/^(=== |--- |\s*$)/.test(l)) ??
      (c.status ? 'failed' : 'did not finish');
    return {
      name: name.split('/').join(' > '),
      classname: '',
      status,
      durationMs: Math.round(c.elapsed * 1000),
      ...(status === 'failed' ? { message, details } : {}),
    };
  });
  const failedTests = tests.some((t) => t.status === 'failed');
  const error =
    packageFailures.length > 0 && !failedTests
      ? `${packageFailures.join(', ')} failed outside any test:\n${text
          .split('\n')
          .filter((l) => !l.startsWith('{'))
          .join('\n')
          .trim()}`
      : undefined;
  return error ? { tests, error } : { tests };
}

function requireGo(): string {
  const go = findOnPath(['go']);
  if (!go)
    throw new SeedforkError('go is not installed (no `go` on PATH)', {
      hint: 'Install it: apt-get install golang-go',
    });
  return go;
}

/** A package path for `go test`: `.` or `./dir`. */
const packageArg = (dir: string) => (dir === '.' ? '.' : `./${dir}`);

/**
 * `go test -json`, whose unit is the package: the directories of the `*_test.go` files that
 * `test.include` matches. `-count=1` turns off Go's test result cache (a cached pass says
 * nothing about this sandbox). Single tests run with `-run` and anchored top-level names
 * (a subtest runs with its parent). Docs: https://pkg.go.dev/cmd/go#hdr-Testing_flags
 */
let buildCache: string[] | undefined;

/** The Go build cache (`go env GOCACHE`, by default ~/.cache/go-build), asked once; none when
 * Go is missing or caching is off. */
function goBuildCache(): string[] {
  if (buildCache) return buildCache;
  const r = spawnSync('go', ['env', 'GOCACHE'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  buildCache = dir && dir !== 'off' ? [dir] : [];
  return buildCache;
}

export const goAdapter: Adapter = {
  name: 'go',
  filtersTests: true,
  units: (files) => [...new Set(files.map((f) => dirname(f)))].sort(),
  command: (units, ctx) => [
    requireGo(),
    'test',
    '-json',
    '-count=1',
    ...(ctx.testNames
      ? [
          '-run',
          `^(?:${[...new Set(ctx.testNames.map((n) => n.split(' > ')[0]!))].map(escapeRegExp).join('|')})$`,
        ]
      : []),
    ...units.map(packageArg),
  ],
  caches: () => goBuildCache(),
  results: () => ({ kind: 'output' }),
  parse: (text) => parseGoTestJson(text),
  complete: (text) => events(text).some((e) => !e.Test && e.Action && DONE.has(e.Action)),
  check: () => void requireGo(),
};
