import { isAbsolute, join } from 'node:path';
import type { Adapter, AdapterContext, ExitSemantics, ParsedReport } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { formatSize, parseSize } from '../config/size.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { FileResult, TestCaseResult } from '../report/types.js';
import { FileTooLargeError, type LimitHit } from '../sandbox/index.js';
import { copyOut, SNAPSHOT_GLOBS, skippedWarning, writtenFiles } from './artifacts.js';
import type { Lease } from './environment.js';
import { processTreeCommand } from './process-tree.js';

/** Options of {@link runFile}. */
export interface RunFileOptions {
  /** Project root (inside the sandbox, the same path as on the host). */
  root: string;
  /** Per-file timeout (test.timeoutMs), in ms. */
  timeoutMs: number;
  /** After the runner wrote its last result, how long it may take to exit (test.exitGraceMs), in ms. */
  exitGraceMs: number;
  /** Unique per run of a file within the lease's sandbox: names its report directory. */
  index: number;
  signal?: AbortSignal;
  /** Run only these test cases (full names); needs an adapter that filters tests. */
  testNames?: string[];
  /** Pass the runner's snapshot-update flag. */
  updateSnapshots?: boolean;
  /** Called with the runner's output as it comes. */
  onOutput?: (chunk: string) => void;
  /** Copy the files matching `patterns` (relative to the root) that this run wrote into
   * `dir/<file>/` (`dir/<file>/attempt-N/` for retries): coverage, traces, screenshots. */
  artifacts?: { patterns: readonly string[]; dir: string };
  /** Which attempt at this file this is (1 = first run, 2 = first retry, ...); exported to the
   * test command as SEEDFORK_ATTEMPT. Default 1. */
  attempt?: number;
  /** The runner's own workers, forked into the sandbox, to run the file instead of its CLI
   * (see {@link FileWorkers}); the CLI runs the files they decline. */
  workers?: FileWorkers;
  /**
   * Called, once the runner's CLI ended, with every address it and its children bound (the
   * lines of ExecOptions.traceBinds), where the sandbox traces binds; not called for a run
   * through `workers` or in a sandbox that cannot trace them.
   */
  onBinds?: (binds: string[]) => void;
  /** What is read of the runner's report (config `limits.report`); a limit left out is lifted. */
  reportLimits?: ReportLimits;
}

/** Limits on one file's report (config `limits.report`): its size in bytes and its test cases. */
export interface ReportLimits {
  bytes?: number;
  tests?: number;
}

/**
 * What seedfork reads of one file's report unless `limits.report` says otherwise: 64 MiB and
 * 100,000 test cases. A real suite's file stays far below both (a 10,000-case JUnit file is about
 * 2 MB); they keep a test that writes a giant report from taking seedfork's memory (reading and
 * parsing take several times the file's size).
 */
export const DEFAULT_REPORT_LIMITS = { bytes: 64 * 1024 ** 2, tests: 100_000 } as const;

/** The report limits of a config: DEFAULT_REPORT_LIMITS where left out, none where `false`.
 * @throws SeedforkError on a size that does not parse */
export function reportLimitsOf(config: LoadedConfig['config']): ReportLimits {
  const { bytes, tests } = config.limits.report ?? {};
  return {
    ...(bytes === false
      ? {}
      : { bytes: bytes === undefined ? DEFAULT_REPORT_LIMITS.bytes : parseSize(bytes) }),
    ...(tests === false ? {} : { tests: tests ?? DEFAULT_REPORT_LIMITS.tests }),
  };
}

/**
 * Runs test files through the runner's own worker forked into each sandbox (a worker zygote:
 * src/integrations/), instead of starting the runner's CLI per file. What the runner reported,
 * for {@link runFile} to judge as it judges the CLI's.
 */
export interface FileWorkers {
  /**
   * Run `file` in the lease's sandbox; undefined when this run cannot go through a worker (the
   * CLI runs it then). Never throws for a test failure, a timeout or a killed worker: those are
   * in the outcome.
   */
  run(lease: Lease, file: string, options: RunFileOptions): Promise<WorkerOutcome | undefined>;
  /**
   * Start a worker in a sandbox made ready ahead of need (see EnvironmentOptions.onLeaseReady),
   * so that a `run` in it hands the file over at once instead of forking first. The worker dies
   * with the sandbox when no file comes. Never throws.
   */
  prepare?(lease: Lease): void;
  /** Stop the workers' zygote. Never throws. */
  close(): Promise<void>;
}

/** Output a file's worker keeps (stdout, stderr, what the runner printed), in characters: its
 * tail when longer (see WorkerOutcome.output). */
export const WORKER_OUTPUT_CHARS = 1024 * 1024;

/** What one file's worker reported. */
export interface WorkerOutcome {
  report: ParsedReport;
  /** 0 when the runner would have exited 0 (no failing test, no file-level error), else 1;
   * 128+N when the worker was killed by signal N. */
  exitCode: number;
  /** The worker's stdout and stderr, then what the runner printed for the file (failures,
   * console output). */
  output: string;
  /** Why the file could not finish (timeout, a limit, a killed worker), as runFile words it. */
  unfinished?: string;
  /** What the runner would have warned about (a worker it force-exited), for the result. */
  warnings?: string[];
  /** When the worker got the file (epoch ms), and how long it took, in ms. */
  startedAt: number;
  durationMs: number;
}

/**
 * The {@link runFile} options a config gives every unit: root, timeouts and a fresh report
 * index per call (several units may share one sandbox). `extra` is added to each.
 */
export function fileOptionsFor(
  loaded: LoadedConfig,
  extra: Partial<Omit<RunFileOptions, 'index'>> = {},
): () => RunFileOptions {
  let index = 0;
  const reportLimits = reportLimitsOf(loaded.config);
  return () => ({
    root: loaded.root,
    timeoutMs: loaded.config.test.timeoutMs,
    exitGraceMs: loaded.config.test.exitGraceMs,
    reportLimits,
    ...extra,
    index: index++,
  });
}

/** How often the runner's report is looked at while it runs, in ms. */
const REPORT_POLL_MS = 250;
/** Longest output line kept while waiting for its end, when watching the output for the
 * runner's final event, in characters. */
const MAX_EVENT_LINE = 1024 * 1024;

/**
 * Run one unit (a test file; a package for `go`) with `adapter` inside the lease's sandbox and
 * read its per-test results. With `testNames` (and an adapter that filters tests), only those
 * test cases run. A runner that has written its whole report but does not exit within
 * `exitGraceMs` is killed and the file errors with "did not exit", listing the processes that
 * kept it alive.
 * @throws SeedforkError when the test command itself is missing (exit 127 with no report):
 *   that is a setup problem every file would hit, not a test failure.
 */
export async function runFile(
  lease: Lease,
  adapter: Adapter,
  file: string,
  options: RunFileOptions,
): Promise<FileResult> {
  const { sandbox } = lease;
  const viaWorker = options.workers && (await options.workers.run(lease, file, options));
  if (viaWorker) {
    const { report, unfinished } = viaWorker;
    return judge(lease, file, options, {
      ...viaWorker,
      tests: report.tests,
      reportError: report.error,
      unfinished,
    });
  }
  const reportDir = `${lease.junitDir}/${options.index}`;
  await sandbox.makeDir(reportDir);
  const ctx: AdapterContext = {
    root: options.root,
    reportDir,
    ...(options.testNames ? { testNames: options.testNames } : {}),
    ...(options.updateSnapshots ? { updateSnapshots: true } : {}),
  };
  const argv = adapter.command([file], ctx);
  const source = adapter.results(ctx);
  const reportPath =
    source.kind === 'file'
      ? isAbsolute(source.path)
        ? source.path
        : join(options.root, source.path)
      : undefined;
  const pidFile = `${reportDir}/runner.pid`;
  // `sh` records the runner's pid (as the sandbox sees it), then becomes the runner.
  const wrapped = ['sh', '-c', 'echo $$ > "$0"; exec "$@"', pidFile, ...argv];
  const env = {
    ...lease.env,
    ...adapter.env?.(ctx, lease.env),
    SEEDFORK_ATTEMPT: String(options.attempt ?? 1),
  };

  const startedAt = Date.now();
  // For `output` sources (go test -json): whether the output has held the runner's final event.
  // The adapter sees whole lines as they come, so only the last partial line is kept here.
  let outputComplete = false;
  let partialLine = '';
  const watchOutput = (chunk: string) => {
    if (source.kind !== 'output' || outputComplete) return;
    const lines = `${partialLine}${chunk}`.split('\n');
    partialLine = lines.pop()!;
    if (partialLine.length > MAX_EVENT_LINE) partialLine = ''; // no final event is that long
    if (lines.length > 0 && adapter.complete(lines.join('\n'))) outputComplete = true;
  };
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const exits = adapter.exitSemantics ?? GENERIC_WAIT;
  // a runner that force-exits its workers is ended when it would end them (at most exitGraceMs)
  const graceMs =
    exits.kind === 'force-exit'
      ? Math.min(exits.afterMs ?? options.exitGraceMs, options.exitGraceMs)
      : options.exitGraceMs;
  let hung: { graceMs: number; tree: string } | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let finished = false;
  const maxBytes = options.reportLimits?.bytes;
  /** The report's text; undefined when there is none (or not a regular file), `too large`
   * when it is over limits.report.bytes (not read). */
  const readReport = async (path: string): Promise<string | { tooLarge: number } | undefined> => {
    try {
      return (await sandbox.readFile(path, maxBytes === undefined ? {} : { maxBytes }))?.toString('utf8');
    } catch (error) {
      if (error instanceof FileTooLargeError) return { tooLarge: error.bytes };
      throw error;
    }
  };
  const reportComplete = async (): Promise<boolean> => {
    if (source.kind === 'output') return outputComplete;
    if (!reportPath) return false;
    const text = await readReport(reportPath);
    return typeof text === 'string' && adapter.complete(text);
  };
  // Once the grace period is over: list and kill the runner's process tree, then stop the
  // command. The kill may end the command before the listing returns, so the verdict waits
  // for this work (`graceWork`), not for the command.
  let graceWork: Promise<void> | undefined;
  const onGraceOver = async () => {
    hung = { graceMs, tree: await killProcessTree(lease, pidFile) };
    stop.abort();
  };
  const poller =
    source.kind === 'none'
      ? undefined
      : setInterval(async () => {
          if (graceTimer || finished) return;
          if (await reportComplete()) {
            if (poller) clearInterval(poller);
            if (!finished && !graceTimer)
              graceTimer = setTimeout(() => {
                if (!finished) graceWork = onGraceOver();
              }, graceMs);
          }
        }, REPORT_POLL_MS);
  let result: Awaited<ReturnType<typeof sandbox.exec>>;
  const bindsPath = options.onBinds && sandbox.tracesBinds ? `${reportDir}/binds` : undefined;
  try {
    result = await sandbox.exec(wrapped, {
      cwd: options.root,
      env,
      timeoutMs: options.timeoutMs,
      signal: stop.signal,
      ...(bindsPath ? { traceBinds: bindsPath } : {}),
      onOutput: (chunk) => {
        watchOutput(chunk);
        options.onOutput?.(chunk);
      },
    });
  } finally {
    finished = true;
    if (poller) clearInterval(poller);
    if (graceTimer) clearTimeout(graceTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  await graceWork;
  if (bindsPath)
    options.onBinds?.(
      ((await sandbox.readFile(bindsPath))?.toString('utf8') ?? '').split('\n').filter((l) => l !== ''),
    );

  let report: ParsedReport = { tests: [] };
  let parseError: string | undefined;
  const read =
    source.kind === 'output' ? result.output : reportPath ? await readReport(reportPath) : undefined;
  const text = typeof read === 'string' ? read : undefined;
  const cases = text === undefined ? 0 : countTestCases(text, (options.reportLimits?.tests ?? Infinity) + 1);
  if (typeof read === 'object') {
    parseError = reportTooLarge(
      `is ${formatSize(read.tooLarge)}`,
      `limits.report.bytes (${formatSize(maxBytes!)})`,
    );
  } else if (cases > (options.reportLimits?.tests ?? Infinity)) {
    // a JUnit report: counted without parsing it
    parseError = tooManyTests(`more than ${options.reportLimits!.tests}`, options.reportLimits!.tests!);
  } else if (text !== undefined && text.trim() !== '') {
    try {
      report = adapter.parse(text, { ...ctx, units: [file] });
    } catch (e) {
      parseError = `cannot read the runner's report: ${(e as Error).message}`;
    }
  } else if (source.kind === 'file' && reportPath && result.exitCode === 0) {
    // A runner that exits 0 always writes its report: none (or a FIFO, a link, a device in its
    // place) means something in the sandbox tampered with it, so the exit code proves nothing.
    parseError = `the runner exited 0 but left no readable report at ${reportPath} (missing, empty, or not a regular file)`;
  }
  const { tests } = report;
  const aborted = options.signal?.aborted === true;
  // ended as the runner itself ends a process that will not exit: the report's verdict stands,
  // with the runner's warning
  const forced =
    hung && exits.kind === 'force-exit' && parseError === undefined
      ? forcedExit(exits.warning, hung.graceMs, hung.tree)
      : undefined;
  if (result.exitCode === 127 && tests.length === 0 && !aborted && !hung) {
    throw new SeedforkError(`the test command was not found: ${argv.join(' ')}`, {
      details: result.output.trim().split('\n').slice(-10).join('\n'),
      hint: 'Install the test runner, or fix test.runner in the config.',
    });
  }
  // Why the file could not finish: a timeout, cancellation, a runner that would not exit, a
  // sandbox limit it ran into, or a report that cannot be read.
  const unfinished = result.timedOut
    ? timedOut(
        options.timeoutMs,
        exits.kind === 'wait' && exits.reportsAtExit ? `If its tests had finished: ${exits.hint}` : undefined,
      )
    : aborted
      ? 'cancelled'
      : hung && !forced
        ? didNotExit(hung.graceMs, hung.tree, exits.kind === 'wait' ? exits.hint : undefined)
        : result.sandboxDied
          ? result.sandboxDied
          : result.limit
            ? limitReached(result.limit)
            : parseError;
  return judge(lease, file, options, {
    tests,
    reportError: report.error,
    unfinished,
    exitCode: forced ? verdictOf(report) : result.exitCode,
    output: result.output,
    startedAt,
    durationMs: result.durationMs,
    ...(forced ? { warnings: [forced] } : {}),
  });
}

/** What a runner says when it waits for a process that will not exit, unless its adapter says
 * better (see ExitSemantics). */
const GENERIC_WAIT: ExitSemantics = {
  kind: 'wait',
  hint: 'Close what the tests left open (a server, a timer, a pool), or raise test.exitGraceMs if the runner is still writing its output.',
};

/** The exit code a runner ended after its report would have exited with: its own word when its
 * report has one, else 1 when a test or the file failed. */
export function verdictOf(report: ParsedReport): number {
  if (report.exitCode !== undefined) return report.exitCode;
  return report.error || report.tests.some((t) => t.status === 'failed') ? 1 : 0;
}

/** The warning a file carries when seedfork ended its runner `graceMs` after its last result,
 * as the runner itself would have (`warning` is the runner's own). */
export function forcedExit(warning: string, graceMs: number, tree: string): string {
  return `${warning}\nseedfork ended it ${graceMs} ms after its last result, as the runner would; its verdict stands. Processes still running:\n${tree}`;
}

/**
 * List, then kill, the process tree of the runner whose pid (as the sandbox sees it) is in
 * `pidFile` (inside the sandbox). Returns the listing, one `<pid> <command line>` a line,
 * indented by depth. Never throws.
 */
export async function killProcessTree(lease: Lease, pidFile: string): Promise<string> {
  const tree = await lease.sandbox
    .exec(processTreeCommand(pidFile), {
      cwd: '/',
      env: { PATH: lease.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: 10_000,
    })
    .catch(() => undefined);
  return tree?.output.trim() || '(the process tree could not be read)';
}

/** Why a file whose report is over a limit is an error: what it `is` (its size), the limit. */
function reportTooLarge(is: string, limit: string): string {
  return `the runner's report ${is}, over ${limit}: not read. A real suite's file stays far below it; raise the limit in the config (false lifts it) if this one needs more`;
}

/** Why a file whose report has `count` test cases, over `max`, is an error. */
function tooManyTests(count: string, max: number): string {
  return reportTooLarge(`has ${count} test cases`, `limits.report.tests (${max})`);
}

/**
 * How many `<testcase` elements a JUnit report has, counting up to `stop` (the text of another
 * format has none): cheap enough to run before parsing, whose memory grows with the cases.
 */
export function countTestCases(text: string, stop: number): number {
  let count = 0;
  for (let at = text.indexOf('<testcase'); at !== -1 && count < stop; at = text.indexOf('<testcase', at + 9))
    count++;
  return count;
}

/** Why a file that ran past test.timeoutMs (`ms`) is an error, with what to check when given. */
export function timedOut(ms: number, hint?: string): string {
  return `timed out after ${ms} ms (test.timeoutMs)${hint ? `. ${hint}` : ''}`;
}

/** Why a file that ran into a sandbox limit is an error, with where to raise it. */
export function limitReached(limit: LimitHit): string {
  return `${limit.message}. Raise it with limits.${limit.name} in the config if the suite needs more.`;
}

/** Why a file whose runner reported its last result but did not exit is an error; `hint` says
 * how to fix it for this runner. */
export function didNotExit(graceMs: number, tree: string, hint?: string): string {
  return (
    `did not exit ${graceMs} ms after reporting its last result (test.exitGraceMs); ` +
    `killed. ${hint ? `${hint} ` : ''}Processes still running:\n${tree}`
  );
}

/**
 * The file's result from what its runner reported, the CLI's or a worker's: a failing test case
 * makes the file `failed`; a file that could not finish with no failing case is an `error` (a
 * limit counts even when the runner said it passed: a refused fork or a full disk can pass
 * unnoticed); a file-level problem the runner reported fails the file. Copies its artifacts out.
 */
async function judge(
  lease: Lease,
  file: string,
  options: RunFileOptions,
  ran: {
    tests: TestCaseResult[];
    reportError?: string;
    unfinished?: string;
    exitCode: number;
    output: string;
    startedAt: number;
    durationMs: number;
    warnings?: string[];
  },
): Promise<FileResult> {
  const maxTests = options.reportLimits?.tests;
  const overLimit = maxTests !== undefined && ran.tests.length > maxTests;
  // a report over the limit counts for nothing: its file is an error naming the limit
  const tests = overLimit ? [] : ran.tests;
  const unfinished = overLimit ? tooManyTests(String(ran.tests.length), maxTests) : ran.unfinished;
  const { reportError } = ran;
  const error = unfinished ?? reportError;
  let status: FileResult['status'];
  if (tests.some((t) => t.status === 'failed')) status = 'failed';
  else if (unfinished) status = 'error';
  else if (reportError) status = 'failed';
  else status = ran.exitCode === 0 ? 'passed' : 'failed';
  const { artifacts, skipped } = await collect(lease, file, options, ran.startedAt, status);
  const warnings = [...(ran.warnings ?? []), ...skipped];
  const { sandbox } = lease;
  return {
    file,
    status,
    startedAt: new Date(ran.startedAt).toISOString(),
    exitCode: ran.exitCode,
    durationMs: Math.round(ran.durationMs),
    setupMs: Math.round(lease.setupMs),
    sandboxId: sandbox.backend === 'none' ? undefined : sandbox.id,
    tests,
    output: ran.output,
    ...(error ? { error } : {}),
    ...(warnings.length ? { warnings } : {}),
    ...(artifacts.length > 0 ? { artifacts } : {}),
  };
}

/**
 * Copy this run's artifacts out of the sandbox and, with `updateSnapshots` and a passing file,
 * its updated snapshot files back into the project. (Without isolation they are already there.)
 * @returns the artifacts' host paths, and a warning for each match that could not be copied.
 */
async function collect(
  lease: Lease,
  file: string,
  options: RunFileOptions,
  since: number,
  status: FileResult['status'],
): Promise<{ artifacts: string[]; skipped: string[] }> {
  const { sandbox } = lease;
  const skipped: string[] = [];
  if (sandbox.backend === 'none') return { artifacts: [], skipped };
  if (options.updateSnapshots && status === 'passed') {
    const updated = await writtenFiles(sandbox, options.root, SNAPSHOT_GLOBS, since);
    await copyOut(sandbox, options.root, updated.files, options.root);
    skipped.push(...updated.skipped.map((s) => skippedWarning('updated snapshot', s)));
  }
  if (!options.artifacts) return { artifacts: [], skipped };
  const attempt = options.attempt ?? 1;
  const dest = join(options.artifacts.dir, file, ...(attempt > 1 ? [`attempt-${attempt}`] : []));
  const written = await writtenFiles(sandbox, options.root, options.artifacts.patterns, since);
  skipped.push(...written.skipped.map((s) => skippedWarning('artifact', s)));
  return { artifacts: await copyOut(sandbox, options.root, written.files, dest), skipped };
}
