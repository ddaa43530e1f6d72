/** Outcome of one test case, as read from the runner's JUnit XML. */
export interface TestCaseResult {
  /** Full name: enclosing suites and the test name joined with " > ". */
  name: string;
  classname: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** Failure message (first line) when failed. */
  message?: string;
  /** Failure body (stack, diff) when failed. */
  details?: string;
}

/** Outcome of one test file, run in its own sandbox (or a shard's sandbox). */
export interface FileResult {
  /** Path relative to the project root. */
  file: string;
  /** `error`: the file could not run (sandbox, service or runner failure), not a test failure. */
  status: 'passed' | 'failed' | 'error';
  exitCode: number;
  /** Wall time of the test command, in ms. */
  durationMs: number;
  /** Time to fork the sandbox and bring its services up, in ms. */
  setupMs: number;
  sandboxId?: string;
  /** True when the sandbox was kept for `seedfork shell`. */
  kept?: boolean;
  tests: TestCaseResult[];
  /** Combined stdout+stderr of the test command. */
  output: string;
  /** Why the file errored, when status is `error`. */
  error?: string;
}

/** A whole run, as written to the JSON result file. */
export interface RunResult {
  version: 1;
  startedAt: string;
  durationMs: number;
  isolation: string;
  per: 'file' | 'shard';
  workers: number;
  snapshot?: { key: string; cached: boolean };
  files: FileResult[];
  summary: RunSummary;
}

/** Counts over a run. */
export interface RunSummary {
  files: number;
  filesFailed: number;
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
}

/** Count tests and files of a run. */
export function summarize(files: FileResult[]): RunSummary {
  const tests = files.flatMap((f) => f.tests);
  return {
    files: files.length,
    filesFailed: files.filter((f) => f.status !== 'passed').length,
    tests: tests.length,
    passed: tests.filter((t) => t.status === 'passed').length,
    failed: tests.filter((t) => t.status === 'failed').length,
    skipped: tests.filter((t) => t.status === 'skipped').length,
  };
}
