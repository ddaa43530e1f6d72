import type { Adapter } from '../adapters/index.js';
import { type FileResult, isFailure } from '../report/types.js';
import type { Lease, TestEnvironment } from './environment.js';
import { combineAttempts } from './retry.js';
import { type RunFileOptions, runFile } from './run-file.js';

/** How {@link runWithRetries} runs one unit. */
export interface AttemptOptions {
  /** Retries after a failed first attempt, each in a fresh fork. */
  retries: number;
  /** Keep the sandbox of a last retry that failed, for `seedfork shell`. */
  keepFailed: boolean;
  /** Options for each attempt's {@link runFile}; called once per attempt (each needs its own index). */
  fileOptions: () => RunFileOptions;
  signal?: AbortSignal;
  /** Called before each retry, with its attempt number (2, 3, …). */
  onRetry?: (attempt: number) => void;
}

/**
 * Run `file` in `lease`'s sandbox, then, while it fails and retries are left, again in a fresh
 * fork of `env` each time (so a failed attempt's state cannot leak into the next), and combine
 * the attempts with Surefire's rerun semantics ({@link combineAttempts}).
 * @returns the combined result, and whether a failed last retry's sandbox was kept (the first
 *   attempt's sandbox is `lease`'s, which the caller releases).
 */
export async function runWithRetries(
  env: TestEnvironment,
  lease: Lease,
  adapter: Adapter,
  file: string,
  options: AttemptOptions,
): Promise<{ result: FileResult; retryKept: boolean }> {
  const attempts = [await runFile(lease, adapter, file, options.fileOptions())];
  let retryKept = false;
  while (
    isFailure(attempts.at(-1)!.status) &&
    attempts.length <= options.retries &&
    !options.signal?.aborted
  ) {
    const number = attempts.length + 1;
    options.onRetry?.(number);
    const retryLease = await env.acquire(options.signal);
    let attempt: FileResult | undefined;
    try {
      attempt = await runFile(retryLease, adapter, file, { ...options.fileOptions(), attempt: number });
      attempts.push(attempt);
    } finally {
      const last = attempt !== undefined && attempts.length > options.retries;
      const keep = last && attempt!.status !== 'passed' && options.keepFailed && !options.signal?.aborted;
      retryKept = await retryLease.release(keep);
    }
  }
  const result = combineAttempts(attempts);
  if (retryKept) result.kept = true;
  return { result, retryKept };
}
