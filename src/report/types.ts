/** One failed attempt of a test case that was retried. */
export interface AttemptFailure {
  message: string;
  details?: string;
}

/** Outcome of one test case, as read from the runner's JUnit XML. */
export interface TestCaseResult {
  /** Full name: enclosing suites and the test name joined with " > ". */
  name: string;
  classname: string;
  /** `flaky`: failed, then passed when its file was retried in a fresh fork (`--retries`). */
  status: 'passed' | 'failed' | 'skipped' | 'flaky';
  durationMs: number;
  /** Failure message (first line) when failed. */
  message?: string;
  /** Failure body (stack, diff) when failed. */
  details?: string;
  /** Failures of the attempts before the one that passed (status `flaky`); Surefire's
   * `<flakyFailure>`. */
  flakyFailures?: AttemptFailure[];
  /** Failures of the retries after the first failure (status `failed`); Surefire's
   * `<rerunFailure>`. */
  rerunFailures?: AttemptFailure[];
  /** Why the test is quarantined (`seedfork quarantine`), when it is and it failed or flaked:
   * it still ran and its failure is reported, but it does not fail the build. */
  quarantined?: string;
}

/** Outcome of one test file, run in its own sandbox (or a shard's sandbox). */
export interface FileResult {
  /** Path relative to the project root. */
  file: string;
  /** `error`: the file could not run (sandbox, service or runner failure), not a test failure.
   * `flaky`: it failed, then passed on a retry in a fresh fork. */
  status: 'passed' | 'failed' | 'error' | 'flaky';
  /** How many times the file ran (1 + retries used). */
  attempts?: number;
  exitCode: number;
  /** When the test command started (ISO 8601); absent in results of older versions. */
  startedAt?: string;
  /** Wall time of the test command, in ms. */
  durationMs: number;
  /** Time the worker waited for the sandbox (its fork and services, or next to nothing when
   * the warm pool had it ready), in ms. */
  setupMs: number;
  sandboxId?: string;
  /** True when the sandbox was kept for `seedfork shell`. */
  kept?: boolean;
  tests: TestCaseResult[];
  /** Combined stdout+stderr of the test command. */
  output: string;
  /** Why the file errored (status `error`), or what the runner reported outside any test case. */
  error?: string;
  /** What the runner warned about without failing the file, as it words it (a process that
   * did not exit after its last result and was ended, as the runner ends its workers). */
  warnings?: string[];
  /** Host paths of the files copied out of the sandbox for `test.artifacts`. */
  artifacts?: string[];
}

/** Which part of a split suite a run covered (`--shard i/N`). */
export interface ShardInfo {
  /** 1-based shard index. */
  index: number;
  total: number;
  strategy: 'timing' | 'hash' | 'count';
  /** Identity of the split (files, shard count, strategy); equal across the shards of a run. */
  suiteId: string;
  /** Number of test files in the whole suite. */
  suiteFiles: number;
  /** Files assigned to this shard. */
  files: string[];
  /** Predicted wall time of this shard, in ms. */
  predictedMs: number;
}

/** A queue-mode job's part of a build (`seedfork run --queue`): what merge checks. */
export interface QueueInfo {
  /** The build (the CI run's id) whose queue the job took files from. */
  build: string;
  /** This job's id. */
  job: string;
  /** Identity of the build's file list; equal across its jobs. */
  suiteId: string;
  /** Every file of the build, sorted: the jobs' results together must cover them. */
  files: string[];
  /** Whether the queue said every file of the build was done before this job stopped. */
  complete: boolean;
}

/** One shard's part of a merged result. */
export interface ShardSummary {
  index: number;
  /** The queue-mode job, when the shards are a queue's jobs. */
  job?: string;
  /** Wall time of the shard's run, in ms. */
  durationMs: number;
  files: number;
  tests: number;
  /** Predicted wall time, in ms, when the shard was planned on timings. */
  predictedMs?: number;
}

/** A whole run, as written to the JSON result file. */
export interface RunResult {
  version: 1;
  startedAt: string;
  /** Wall time, in ms (for a merged result: the slowest shard's). */
  durationMs: number;
  isolation: string;
  /** One sandbox per test file, or per worker. */
  per: 'file' | 'worker';
  workers: number;
  /** CI run this result belongs to (`--run-id`, or the CI's run/pipeline id), so `merge` can
   * refuse results of different runs. */
  runId?: string;
  /** Set when the run was one shard of a split suite. */
  shard?: ShardInfo;
  /** Set on a queue-mode job's result (`run --queue`). */
  queue?: QueueInfo;
  /** Set on merged results: one entry per shard (per job in queue mode). */
  shards?: ShardSummary[];
  snapshot?: { key: string; cached: boolean };
  /** Time to seed or restore the snapshot, in ms. */
  seedMs?: number;
  /** Set when the run broke off (cancelled, or an error) before every file ran: why. `files`
   * holds what finished. */
  incomplete?: string;
  files: FileResult[];
  summary: RunSummary;
}

/** Counts over a run. */
export interface RunSummary {
  files: number;
  /** Files that failed or errored in their last attempt. */
  filesFailed: number;
  /** Files that passed only on a retry. */
  filesFlaky: number;
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Tests that passed only on a retry. */
  flaky: number;
}

/** Whether a file's (last) attempt failed: a failing test, or the file could not run. */
/**
 * Whether a file's result fails the build: it failed or errored, and not only through tests
 * that are quarantined (a file that errored outside its tests always fails it).
 */
export function failsTheBuild(file: FileResult): boolean {
  if (!isFailure(file.status)) return false;
  const failed = file.tests.filter((t) => t.status === 'failed');
  return file.status === 'error' || failed.length === 0 || failed.some((t) => t.quarantined === undefined);
}

export function isFailure(status: FileResult['status']): boolean {
  return status === 'failed' || status === 'error';
}

/** Count tests and files of a run. */
export function summarize(files: FileResult[]): RunSummary {
  const tests = files.flatMap((f) => f.tests);
  return {
    files: files.length,
    filesFailed: files.filter((f) => isFailure(f.status)).length,
    filesFlaky: files.filter((f) => f.status === 'flaky').length,
    tests: tests.length,
    passed: tests.filter((t) => t.status === 'passed').length,
    failed: tests.filter((t) => t.status === 'failed').length,
    skipped: tests.filter((t) => t.status === 'skipped').length,
    flaky: tests.filter((t) => t.status === 'flaky').length,
  };
}
