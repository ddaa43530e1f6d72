import type { TestCaseResult } from '../report/types.js';

/** Where and how an adapter runs one unit of work (a test file; a package for `go`), inside the sandbox. */
export interface AdapterContext {
  /** Project root (the command's working directory). */
  root: string;
  /** A directory (inside the sandbox, absolute, existing) for this run's report files; unique per run. */
  reportDir: string;
  /** Run only the test cases with these full names (as in {@link TestCaseResult.name}); needs
   * {@link Adapter.filtersTests}. */
  testNames?: string[];
  /** Pass the runner's flag that rewrites stored snapshots (`jest -u`, `--update-snapshots`). */
  updateSnapshots?: boolean;
}

/**
 * Where a runner's per-test results come from:
 * - `file`: a report the runner writes (absolute path inside the sandbox, or relative to the root);
 * - `output`: the runner's own stdout/stderr (`go test -json`);
 * - `none`: the runner reports no test cases; the file passes when the command exits 0.
 */
export type ResultSource = { kind: 'file'; path: string } | { kind: 'output' } | { kind: 'none' };

/** What an adapter read from a runner's report. */
export interface ParsedReport {
  tests: TestCaseResult[];
  /** A problem the runner reported outside any test case (a file that failed to load, a
   * `beforeAll` that threw, a build error), as it printed it. */
  error?: string;
  /** The exit code the runner's own report says it exits with (Jest's `success`), when it says:
   * the verdict of a runner that was ended after its report (see {@link ExitSemantics}). */
  exitCode?: number;
}

/**
 * What the runner itself does with a test process that has written its last result but does
 * not exit (a keep-alive socket, a ref'd timer, an open database pool), so that a file's
 * verdict under seedfork is the plain runner's:
 * - `force-exit`: the runner ends the process and keeps the verdict of its report, with a
 *   warning. jest-worker kills a worker that has not exited 500 ms after it was told to
 *   (`FORCE_EXIT_DELAY` in jest-worker's base worker); Vitest ends its pool's workers at once
 *   and its own process after `teardownTimeout`; Playwright Test kills its workers. seedfork
 *   ends the runner `afterMs` after the report is whole (test.exitGraceMs when unset) and
 *   judges the file by the report; the result carries `warning`.
 * - `wait`: the runner waits for the process for ever (node:test; Mocha since v4 without
 *   `--exit`). seedfork ends it after test.exitGraceMs and the file errors with "did not exit",
 *   the processes that kept it alive and `hint`. A runner whose report is whole only once the
 *   process has exited (`reportsAtExit`: node:test, whose file ends when its event loop does)
 *   runs into test.timeoutMs instead, and the timeout names `hint`.
 */
export type ExitSemantics =
  | { kind: 'force-exit'; afterMs?: number; warning: string }
  | { kind: 'wait'; hint: string; reportsAtExit?: boolean };

/**
 * One test runner: how to run some units, where its per-test results land and how to read them.
 * Adding a runner is adding a file in this folder and one line in `index.ts`.
 */
export interface Adapter {
  readonly name: string;
  /** Whether the runner can run single test cases of a unit (see {@link AdapterContext.testNames}). */
  readonly filtersTests: boolean;
  /** Globs (relative to the root) of files the runner writes that are worth keeping per unit
   * (traces, screenshots); copied out of the sandbox with `test.artifacts`. */
  readonly artifacts?: readonly string[];
  /**
   * The units the runner runs, from the files `test.include` matched (sorted, relative to the
   * root). Default: each file. `go` runs packages: the directories of the matched files.
   */
  units?(files: string[]): string[];
  /** argv that runs `units` (relative to the root) and writes the report. */
  command(units: string[], ctx: AdapterContext): string[];
  /**
   * Host directories (absolute) where the runner keeps transform and build caches for the
   * project at `root`, kept warm across sandboxes (see src/run/caches.ts).
   */
  caches?(root: string): string[];
  /** Variables to add to the command's environment `env` (already holding test.env and the services'). */
  env?(ctx: AdapterContext, env: Record<string, string>): Record<string, string>;
  /** Where the results come from for this run. */
  results(ctx: AdapterContext): ResultSource;
  /**
   * Read the report (or the output, for `output` sources).
   * @throws SeedforkError when the report is malformed.
   */
  parse(text: string, ctx: AdapterContext & { units: string[] }): ParsedReport;
  /**
   * Whether `text` holds the runner's whole report, so the runner has nothing left to report:
   * from then on it should exit (see `test.exitGraceMs`). For `output` sources `text` is the
   * output's next whole lines, as they come: true once they hold the runner's final event.
   */
  complete(text: string): boolean;
  /** What the runner does with a test process that does not exit after its last result;
   * `wait` with a generic hint when unset. */
  readonly exitSemantics?: ExitSemantics;
  /** Throws a SeedforkError, with the install command, when the runner is not installed. */
  check(root: string): void;
}
