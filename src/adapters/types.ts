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
}

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
  /** Throws a SeedforkError, with the install command, when the runner is not installed. */
  check(root: string): void;
}
