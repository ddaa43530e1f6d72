import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { adapterFor } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import type { FileCost } from '../plan/cost.js';
import { byPath, longestFirst, partition, type ShardStrategy, totalMs } from '../plan/partition.js';
import { makePlan } from '../plan/plan.js';
import type { ShardSpec } from '../plan/shard-spec.js';
import { loadSuite, type TimingsOptions } from '../plan/suite.js';
import { existsUnder, recordTimings, writeTimings } from '../plan/timings.js';
import { type FileResult, isFailure, type RunResult, type ShardInfo, summarize } from '../report/types.js';
import { writeReports } from '../report/write.js';
import { backendFor } from '../sandbox/index.js';
import type { SeedEvent } from '../seed/seed.js';
import {
  baseEnvironment,
  namespaceEnvironment,
  sharedEnvironment,
  type TestEnvironment,
} from './environment.js';
import { runPool } from './pool.js';
import { combineAttempts } from './retry.js';
import { runFile } from './run-file.js';
import { ciRunId } from './run-id.js';

/** Options of {@link run}; each overrides the config key of the same name. */
export interface RunOptions extends TimingsOptions {
  isolation?: 'namespace' | 'none';
  workers?: number | 'auto';
  per?: 'file' | 'shard';
  /** Path for the merged JUnit XML (relative to the project root). */
  junit?: string;
  /** Path for the JSON result file. */
  json?: string;
  /** Keep the sandboxes of failed files alive for `seedfork shell`. */
  keepFailed?: boolean;
  /** Only files whose path contains one of these. */
  filter?: string[];
  /** Pass the runner's snapshot-update flag and copy updated snapshot files back into the
   * project from each sandbox whose file passed. */
  updateSnapshots?: boolean;
  /** Rerun a failed file up to this many times, each in a fresh fork; a file that then passes
   * is reported `flaky`, never as a plain pass. */
  retries?: number;
  /** Run only this shard of the suite (`--shard i/N`). */
  shard?: ShardSpec;
  /** How the suite is split into shards (default `timing`). */
  shardBy?: ShardStrategy;
  /** Id shared by the shards of one CI run (default: from the CI's environment variables). */
  runId?: string;
  /** Update the timings file with this run's durations (default: true, but false with `shard`:
   * every shard of a run must plan from the same timings, and `merge` records them all). */
  recordTimings?: boolean;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
}

/** Progress of a run, for reporters. */
export type RunEvent =
  | {
      type: 'plan';
      files: string[];
      workers: number;
      isolation: string;
      per: 'file' | 'shard';
      shard?: ShardInfo;
    }
  | { type: 'seed'; event: SeedEvent }
  | { type: 'gc'; removed: number }
  | { type: 'file-start'; file: string }
  | { type: 'file-retry'; file: string; attempt: number }
  | { type: 'file-done'; result: FileResult }
  | { type: 'done'; result: RunResult; reports: { json?: string; junit?: string } };

/** Resolve `workers: 'auto'` to the number of CPUs. */
export function resolveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/**
 * Seed once (or reuse the snapshot), fork a sandbox per test file (or per worker with
 * `per: 'shard'`), run at most `workers` at once, and write the JSON (and JUnit) reports.
 * With `shard`, only that shard's files of the plan run. Workers take the costliest remaining
 * file first (predicted from the timings file), and the timings file is updated afterwards.
 * Every sandbox is killed before this returns or throws, except failed ones kept on request.
 * @throws SeedforkError for setup problems (seed step, service, missing runner, corrupt
 *   timings); CancelledError when `signal` aborts. Test failures are results, not errors.
 */
export async function run(loaded: LoadedConfig, options: RunOptions = {}): Promise<RunResult> {
  const { config, root } = loaded;
  const isolation = options.isolation ?? config.isolation;
  const per = options.per ?? config.per;
  const workers = resolveWorkers(options.workers ?? config.workers);
  const stateDir = resolve(root, config.stateDir);
  const retries = options.retries ?? config.retries;
  const suite = loadSuite(loaded, options);
  let costs = suite.costs;
  let shard: ShardInfo | undefined;
  if (options.shard) {
    const plan = makePlan(suite.costs, {
      shards: options.shard.total,
      strategy: options.shardBy ?? 'timing',
      workers,
    });
    const mine = plan.shards[options.shard.index - 1]!;
    costs = mine.files;
    shard = {
      index: options.shard.index,
      total: options.shard.total,
      strategy: plan.strategy,
      suiteId: plan.suiteId,
      suiteFiles: plan.files.length,
      files: mine.files.map((c) => c.file).sort(byPath),
      predictedMs: Math.round(mine.predictedMs),
    };
  }
  const files = costs.map((c) => c.file).sort(byPath);
  const runId = options.runId ?? ciRunId();
  const adapter = adapterFor(config.test.runner);
  adapter.check(root);
  const emit = options.onEvent ?? (() => {});
  const jsonPath = options.json ?? config.report.json;
  const junitPath = options.junit ?? config.report.junit;
  const reports = {
    json: jsonPath ? resolve(root, jsonPath) : undefined,
    junit: junitPath ? resolve(root, junitPath) : undefined,
  };
  const startedAt = new Date();
  const baseEnv = baseEnvironment(config);
  const groups = workQueue(costs, per, workers);
  emit({ type: 'plan', files, workers: Math.min(workers, groups.length), isolation, per, shard });

  let environment: TestEnvironment | undefined;
  let seedMs: number | undefined;
  const results: FileResult[] = [];
  const saveTimings = () => {
    if (!(options.recordTimings ?? !options.shard) || results.length === 0) return;
    const updated = recordTimings(suite.timings, results, {
      sandboxed: isolation === 'namespace',
      seedMs,
      exists: existsUnder(root),
    });
    writeTimings(suite.timingsPath, updated);
  };
  const finish = (): RunResult => {
    const ordered = [...results].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file));
    return {
      version: 1,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(Date.now() - startedAt.getTime()),
      isolation,
      per,
      workers,
      ...(runId ? { runId } : {}),
      ...(shard ? { shard } : {}),
      ...(seedMs !== undefined ? { seedMs } : {}),
      ...(environment?.snapshot ? { snapshot: environment.snapshot } : {}),
      files: ordered,
      summary: summarize(ordered),
    };
  };
  const environmentOptions = {
    loaded,
    baseEnv,
    onSeedEvent: (event: SeedEvent) => emit({ type: 'seed', event }),
    signal: options.signal,
  };
  if (groups.length === 0) {
    // An empty shard (more shards than files): nothing to seed or run, but merge wants its result.
    const result = finish();
    writeReports(result, reports);
    emit({ type: 'done', result, reports });
    return result;
  }
  const seedStarted = performance.now();
  try {
    if (isolation === 'namespace') {
      assertVisibleInSandboxes(root);
      const backend = backendFor('namespace', stateDir, { ownDirs: [root] });
      await backend.preflight();
      const gc = await backend.gc();
      const removed = gc.sandboxes.length + gc.cgroups.length + gc.snapshotsInProgress.length;
      if (removed > 0) emit({ type: 'gc', removed });
      environment = await namespaceEnvironment(backend, environmentOptions);
    } else {
      environment = await sharedEnvironment(stateDir, environmentOptions);
    }
    seedMs = Math.round(performance.now() - seedStarted);
    const env = environment;
    let index = 0;
    const artifactPatterns = [...(adapter.artifacts ?? []), ...config.test.artifacts];
    const artifactsDir = resolve(root, config.report.artifacts);
    if (artifactPatterns.length > 0) rmSync(artifactsDir, { recursive: true, force: true });
    const fileOptions = () => ({
      root,
      ...(artifactPatterns.length > 0
        ? { artifacts: { patterns: artifactPatterns, dir: artifactsDir } }
        : {}),
      ...(options.updateSnapshots ? { updateSnapshots: true } : {}),
      timeoutMs: config.test.timeoutMs,
      exitGraceMs: config.test.exitGraceMs,
      index: index++,
      signal: options.signal,
    });
    await runPool(
      groups,
      workers,
      async (group) => {
        const lease = await env.acquire(options.signal);
        const failed: FileResult[] = [];
        try {
          for (const file of group) {
            if (options.signal?.aborted) break;
            emit({ type: 'file-start', file });
            const attempts = [await runFile(lease, adapter, file, fileOptions())];
            // Retries run in a fresh fork each: the failed attempt's state must not leak in.
            let retryKept = false;
            while (
              isFailure(attempts.at(-1)!.status) &&
              attempts.length <= retries &&
              !options.signal?.aborted
            ) {
              emit({ type: 'file-retry', file, attempt: attempts.length + 1 });
              const retryLease = await env.acquire(options.signal);
              let attempt: FileResult | undefined;
              try {
                attempt = await runFile(retryLease, adapter, file, {
                  ...fileOptions(),
                  attempt: attempts.length + 1,
                });
                attempts.push(attempt);
              } finally {
                const last = attempt !== undefined && attempts.length > retries;
                const keep =
                  last &&
                  attempt!.status !== 'passed' &&
                  options.keepFailed === true &&
                  !options.signal?.aborted;
                retryKept = await retryLease.release(keep);
              }
            }
            const result = combineAttempts(attempts);
            if (retryKept) result.kept = true;
            else if (isFailure(result.status)) failed.push(result);
            results.push(result);
            emit({ type: 'file-done', result });
          }
        } finally {
          const keep = failed.length > 0 && options.keepFailed === true && !options.signal?.aborted;
          if (await lease.release(keep)) for (const result of failed) result.kept = true;
        }
      },
      options.signal,
    );
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
  } catch (error) {
    // Keep what finished: a cancelled or broken run still leaves its partial results.
    if (results.length > 0) {
      writeReports(finish(), { json: reports.json });
      saveTimings();
    }
    // Whatever failed while cancelling (a seed step or service killed mid-way) is the cancellation.
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
    throw error;
  } finally {
    await environment?.close();
  }
  const result = finish();
  writeReports(result, reports);
  saveTimings();
  emit({ type: 'done', result, reports });
  return result;
}

/**
 * The local queue: what each worker takes next, costliest first, so a slow file starts early
 * instead of waiting behind short ones. With `per: 'shard'` each worker's sandbox gets a bin
 * of files packed to equal predicted time.
 */
function workQueue(costs: FileCost[], per: 'file' | 'shard', workers: number): string[][] {
  if (per === 'file') return [...costs].sort(longestFirst).map((c) => [c.file]);
  return partition(costs, workers, 'timing')
    .filter((bin) => bin.length > 0)
    .sort((a, b) => totalMs(b) - totalMs(a))
    .map((bin) => bin.map((c) => c.file));
}

/** Kernel filesystems a project cannot live in. */
const KERNEL_DIRS = ['/proc', '/sys', '/dev'];

/** @throws SeedforkError when the project lives where sandboxes cannot show it. */
function assertVisibleInSandboxes(root: string): void {
  const hidden = KERNEL_DIRS.find(
    (d) => (root === d || root.startsWith(`${d}/`)) && !root.startsWith('/dev/shm/'),
  );
  if (hidden) {
    throw new SeedforkError(`the project ${root} is under ${hidden}, which every sandbox mounts afresh`, {
      hint: 'Move the project to a regular directory, or use --isolation none.',
    });
  }
}
