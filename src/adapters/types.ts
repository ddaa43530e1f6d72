/** Where and how an adapter runs: the project root and the report path, inside the sandbox. */
export interface AdapterContext {
  /** Project root (the command's working directory). */
  root: string;
  /** Path the runner should write JUnit XML to. */
  junitPath: string;
  /** Run only the test cases with these names (full names as in the JUnit report); needs
   * {@link Adapter.filtersTests}. */
  testNames?: string[];
}

/**
 * One test runner: how to run some files and where its JUnit XML lands. Adding a runner is
 * adding a file in this folder and one line in index.ts.
 */
export interface Adapter {
  readonly name: string;
  /** Whether the runner can run single test cases of a file (see {@link AdapterContext.testNames}). */
  readonly filtersTests: boolean;
  /** argv that runs `files` (paths relative to the root) and writes JUnit XML. */
  command(files: string[], ctx: AdapterContext): string[];
  /** Path of the JUnit XML it writes, or undefined to judge by exit code alone. */
  junitFile(ctx: AdapterContext): string | undefined;
  /** Throws a SeedforkError when the runner is not installed. */
  check(root: string): void;
}
