import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Adapter } from '../adapters/index.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { readJUnit } from '../report/junit-read.js';
import type { FileResult } from '../report/types.js';
import type { Lease } from './environment.js';

/**
 * Run one test file with `adapter` inside the lease's sandbox and read its JUnit XML. With
 * `testNames` (and an adapter that filters tests), only those test cases run.
 * @throws SeedforkError when the test command itself is missing (exit 127 with no report):
 *   that is a setup problem every file would hit, not a test failure.
 */
export async function runFile(
  lease: Lease,
  adapter: Adapter,
  file: string,
  options: { root: string; timeoutMs: number; index: number; signal?: AbortSignal; testNames?: string[] },
): Promise<FileResult> {
  const junitPath = `${lease.junitDir}/${options.index}.xml`;
  const ctx = {
    root: options.root,
    junitPath,
    ...(options.testNames ? { testNames: options.testNames } : {}),
  };
  const argv = adapter.command([file], ctx);
  const result = await lease.sandbox.exec(argv, {
    cwd: options.root,
    env: lease.env,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  const junitFile = adapter.junitFile(ctx);
  const junitHost = junitFile
    ? lease.sandbox.hostPath(isAbsolute(junitFile) ? junitFile : join(options.root, junitFile))
    : undefined;
  let tests: FileResult['tests'] = [];
  let error: string | undefined;
  if (junitHost && existsSync(junitHost)) {
    try {
      tests = readJUnit(readFileSync(junitHost, 'utf8'));
    } catch (e) {
      error = `cannot read the runner's JUnit report: ${(e as Error).message}`;
    }
  }
  if (result.exitCode === 127 && tests.length === 0 && !options.signal?.aborted) {
    throw new SeedforkError(`the test command was not found: ${argv.join(' ')}`, {
      details: result.output.trim().split('\n').slice(-10).join('\n'),
      hint: 'Install the test runner, or fix test.runner in the config.',
    });
  }
  if (result.timedOut) error = `timed out after ${options.timeoutMs} ms (test.timeoutMs)`;
  else if (options.signal?.aborted) error = 'cancelled';
  // A failing test case makes the file `failed`; a file that could not finish (timeout,
  // cancellation, unreadable report) with no failing case is an `error`.
  let status: FileResult['status'];
  if (tests.some((t) => t.status === 'failed')) status = 'failed';
  else if (error) status = 'error';
  else status = result.exitCode === 0 ? 'passed' : 'failed';
  return {
    file,
    status,
    exitCode: result.exitCode,
    durationMs: Math.round(result.durationMs),
    setupMs: Math.round(lease.setupMs),
    sandboxId: lease.sandbox.backend === 'none' ? undefined : lease.sandbox.id,
    tests,
    output: result.output,
    ...(error ? { error } : {}),
  };
}
