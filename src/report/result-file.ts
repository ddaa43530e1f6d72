import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { formatIssues } from '../config/load.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { type RunResult, summarize } from './types.js';

const testCase = z.object({
  name: z.string(),
  classname: z.string(),
  status: z.enum(['passed', 'failed', 'skipped', 'flaky']),
  durationMs: z.number(),
  message: z.string().optional(),
  details: z.string().optional(),
  flakyFailures: z.array(z.object({ message: z.string(), details: z.string().optional() })).optional(),
  rerunFailures: z.array(z.object({ message: z.string(), details: z.string().optional() })).optional(),
});

const fileResult = z.object({
  file: z.string(),
  status: z.enum(['passed', 'failed', 'error', 'flaky']),
  attempts: z.number().int().positive().optional(),
  exitCode: z.number(),
  durationMs: z.number(),
  setupMs: z.number(),
  sandboxId: z.string().optional(),
  kept: z.boolean().optional(),
  tests: z.array(testCase),
  output: z.string(),
  error: z.string().optional(),
  warnings: z.array(z.string()).optional(),
});

const runResult = z.looseObject({
  version: z.literal(1),
  startedAt: z.string(),
  durationMs: z.number(),
  isolation: z.string(),
  // Results written before `per: 'shard'` was renamed `worker` still read.
  per: z.enum(['file', 'worker', 'shard']).transform((p) => (p === 'shard' ? 'worker' : p)),
  workers: z.number(),
  runId: z.string().optional(),
  shard: z
    .object({
      index: z.number().int().positive(),
      total: z.number().int().positive(),
      strategy: z.enum(['timing', 'hash', 'count']),
      suiteId: z.string(),
      suiteFiles: z.number().int().nonnegative(),
      files: z.array(z.string()),
      predictedMs: z.number(),
    })
    .optional(),
  files: z.array(fileResult),
});

/**
 * Read a JSON result file written by `seedfork run` (or `merge`).
 * @throws SeedforkError when it cannot be read, is not JSON, or is not a seedfork result.
 */
export function readResultFile(path: string): RunResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SeedforkError(`cannot read the result file ${path}: ${(error as Error).message}`, {
      hint: 'Pass the JSON result files that `seedfork run --json PATH` wrote on each shard.',
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SeedforkError(`the result file ${path} is not JSON: ${(error as Error).message}`, {
      hint: 'The file may be truncated (a shard killed while writing): rerun that shard.',
      cause: error,
    });
  }
  const parsed = runResult.safeParse(raw);
  if (!parsed.success)
    throw new SeedforkError(`${path} is not a seedfork result file:\n${formatIssues(parsed.error)}`, {
      hint: 'Pass the JSON result files that `seedfork run --json PATH` wrote, not JUnit XML or other JSON.',
    });
  // The summary is recomputed: it is derived data, and a hand-edited file may disagree.
  return { ...parsed.data, summary: summarize(parsed.data.files) } as RunResult;
}
