import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { type Adapter, adapterFor } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import type { FileCost } from '../plan/cost.js';
import { byPath, longestFirst, partition, type ShardStrategy, totalMs } from '../plan/partition.js';
import { makePlan, suiteIdOf } from '../plan/plan.js';
import type { ShardSpec } from '../plan/shard-spec.js';
import { loadSuite, type Suite, type TimingsOptions } from '../plan/suite.js';
import { existsUnder, recordTimings, writeTimings } from '../plan/timings.js';
import {
  type FileResult,
  isFailure,
  type QueueInfo,
  type RunResult,
  type ShardInfo,
  summarize,
} from '../report/types.js';
import { writeIncompleteReports, writeReports } from '../report/write.js';
import { withheldNotice } from '../sandbox/host-env.js';
import type { SeedEvent } from '../seed/seed.js';
import { runWithRetries } from './attempts.js';
import { CacheHarvest, cacheDirsOf } from './caches.js';
import {
  baseEnvironment,
  type Isolation,
  type Lease,
  openEnvironment,
  type TestEnvironment,
} from './environment.js';
import { listSource, runSource, type WorkSource } from './pool.js';
import { QueueClient, type QueueOptions } from './queue-client.js';
import { type FileWorkers, fileOptionsFor, type RunFileOptions } from './run-file.js';
import { ciRunId } from './run-id.js';

/** Options of {@link run}; each overrides the config key of the same name. */
export interface RunOptions extends TimingsOptions {
  isolation?: Isolation;
  workers?: number | 'auto';
  /** `shard` is the deprecated name of `worker`. */
  per?: 'file' | 'worker' | 'shard';
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
  /**
   * Take the files from the queue of `seedfork serve` that every job of this CI run (`runId`)
   * shares, instead of a shard plan (`--queue URL`): the jobs finish together however fast each
   * machine is. Not with `shard`; only `per: 'file'`.
   */
  queue?: QueueOptions;
  /** How the suite is split into shards (default `timing`). */
  shardBy?: ShardStrategy;
  /** Id shared by the shards of one CI run (default: from the CI's environment variables). */
  runId?: string;
  /** Update the timings file with this run's durations (default: true, but false with `shard`
   * or `queue`: every job of a run must plan from the same timings, and `merge` records them all). */
  recordTimings?: boolean;
  /**
   * Why a test is quarantined, or undefined: its failures are still reported (marked
   * `quarantined`) but do not fail the build (see `failsTheBuild`). The CLI reads the history's
   * quarantine list for it.
   */
  quarantine?: (file: string, test: string) => string | undefined;
  /**
   * {@link quarantine} loaded when a file first has a failed or flaky test, not before (the
   * CLI's reads the history: an embedded one costs about 0.6 s to open, which a passing run
   * never pays). Called at most once; its error is the run's. Ignored when `quarantine` is given.
   */
  loadQuarantine?: () => Promise<((file: string, test: string) => string | undefined) | undefined>;
  /**
   * Start the runner's own workers for this run, to run each file through one forked into its
   * sandbox instead of the runner's CLI (see {@link FileWorkers}); undefined where the runner
   * has none. The CLI passes the integrations' (src/integrations/); only sandboxed runs use it.
   */
  fileWorkers?: (context: FileWorkersContext) => Promise<FileWorkers | undefined>;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
}

/** What a runner's workers are started with (see {@link RunOptions.fileWorkers}). */
export interface FileWorkersContext {
  loaded: LoadedConfig;
  adapter: Adapter;
  /** seedfork's state directory (absolute). */
  stateDir: string;
  /** The environment of commands before services add theirs (see baseEnvironment). */
  baseEnv: Record<string, string>;
  workers: number;
  updateSnapshots: boolean;
  /** Tell the user something about how the files will run (the workers' fallback to the
   * runner's CLI, and why); once per cause. */
  notify: (message: string) => void;
}

/** Progress of a run, for reporters. */
export type RunEvent =
  | {
      type: 'plan';
      files: string[];
      workers: number;
      isolation: string;
      per: 'file' | 'worker';
      shard?: ShardInfo;
    }
  | { type: 'seed'; event: SeedEvent }
  | { type: 'gc'; removed: number }
  /** Something the user should know about how the files run (a runner's CLI used instead of
   * its workers, and why). */
  | { type: 'notice'; message: string }
  | { type: 'file-start'; file: string }
  | { type: 'file-retry'; file: string; attempt: number }
  /** Runner output as it comes (stdout and stderr, as text; not split at line ends). */
  | { type: 'file-output'; file: string; chunk: string }
  | { type: 'file-done'; result: FileResult }
  | { type: 'done'; result: RunResult; reports: { json?: string; junit?: string } };

/** Resolve `workers: 'auto'` to the number of CPUs. */
export function resolveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/** A run's settings: the options, or else the config keys of the same name. */
interface RunSettings {
  isolation: Isolation;
  per: 'file' | 'worker';
  workers: number;
  retries: number;
  stateDir: string;
  runId: string | undefined;
  reports: { json?: string; junit?: string };
}

function runSettings(loaded: LoadedConfig, options: RunOptions): RunSettings {
  const { config, root } = loaded;
  const jsonPath = options.json ?? config.report.json;
  const junitPath = options.junit ?? config.report.junit;
  return {
    isolation: options.isolation ?? config.isolation,
    per: options.per === 'shard' ? 'worker' : (options.per ?? config.per),
    workers: resolveWorkers(options.workers ?? config.workers),
    retries: options.retries ?? config.retries,
    stateDir: resolve(root, config.stateDir),
    runId: options.runId ?? ciRunId(),
    reports: {
      json: jsonPath ? resolve(root, jsonPath) : undefined,
      junit: junitPath ? resolve(root, junitPath) : undefined,
    },
  };
}

/** The suite's files this run covers: all of them, or shard `options.shard` of the plan. */
function selectShard(
  suite: Suite,
  options: RunOptions,
  workers: number,
): { costs: FileCost[]; shard?: ShardInfo } {
  if (!options.shard) return { costs: suite.costs };
  const plan = makePlan(suite.costs, {
    shards: options.shard.total,
    strategy: options.shardBy ?? 'timing',
    workers,
  });
  const mine = plan.shards[options.shard.index - 1]!;
  return {
    costs: mine.files,
    shard: {
      index: options.shard.index,
      total: options.shard.total,
      strategy: plan.strategy,
      suiteId: plan.suiteId,
      suiteFiles: plan.files.length,
      files: mine.files.map((c) => c.file).sort(byPath),
      predictedMs: Math.round(mine.predictedMs),
    },
  };
}

/** What a run has finished so far, and how to turn it into its result, reports and timings. */
class RunRecord {
  readonly results: FileResult[] = [];
  readonly startedAt = new Date();
  seedMs: number | undefined;
  snapshot: RunResult['snapshot'];
  queue: QueueInfo | undefined;

  constructor(
    readonly settings: RunSettings,
    private readonly files: string[],
    private readonly shard: ShardInfo | undefined,
  ) {}

  result(): RunResult {
    const { files, settings } = this;
    const ordered = [...this.results].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file));
    return {
      version: 1,
      startedAt: this.startedAt.toISOString(),
      durationMs: Math.round(Date.now() - this.startedAt.getTime()),
      isolation: settings.isolation,
      per: settings.per,
      workers: settings.workers,
      ...(settings.runId ? { runId: settings.runId } : {}),
      ...(this.shard ? { shard: this.shard } : {}),
      ...(this.queue ? { queue: this.queue } : {}),
      ...(this.seedMs !== undefined ? { seedMs: this.seedMs } : {}),
      ...(this.snapshot ? { snapshot: this.snapshot } : {}),
      files: ordered,
      summary: summarize(ordered),
    };
  }
}

/** Update the timings file with a run's durations (not for `--shard` runs unless asked: merge does it). */
function saveTimings(loaded: LoadedConfig, suite: Suite, record: RunRecord, options: RunOptions): void {
  if (!(options.recordTimings ?? !(options.shard || options.queue)) || record.results.length === 0) return;
  const updated = recordTimings(suite.timings, record.results, {
    sandboxed: record.settings.isolation !== 'none',
    seedMs: record.seedMs,
    exists: existsUnder(loaded.root),
  });
  writeTimings(suite.timingsPath, updated);
}

/**
 * Work the source: at most `workers` groups at once, each in a sandbox of its own (one unit per
 * group with `per: 'file'`), every unit with its retries. A group's sandbox is kept when one of
 * its units failed and `keepFailed` asks for it.
 */
async function runQueue(
  source: WorkSource,
  env: TestEnvironment,
  runUnit: (lease: Lease, file: string) => Promise<{ result: FileResult; retryKept: boolean }>,
  options: {
    workers: number;
    keepFailed: boolean;
    signal?: AbortSignal;
    /** Called with the sandbox of a group whose units all passed, before it is released. */
    onGroupPassed?: (lease: Lease) => Promise<void>;
  },
): Promise<void> {
  await runSource(
    source,
    options.workers,
    async (group) => {
      const lease = await env.acquire(options.signal);
      const failed: FileResult[] = [];
      let passed = true;
      try {
        for (const file of group) {
          if (options.signal?.aborted) break;
          const { result, retryKept } = await runUnit(lease, file);
          if (isFailure(result.status) || result.status === 'flaky') passed = false;
          if (!retryKept && isFailure(result.status)) failed.push(result);
        }
        if (passed && !options.signal?.aborted) await options.onGroupPassed?.(lease);
      } finally {
        const keep = failed.length > 0 && options.keepFailed && !options.signal?.aborted;
        if (await lease.release(keep)) for (const result of failed) result.kept = true;
      }
    },
    options.signal,
  );
}

/**
 * Seed once (or reuse the snapshot), fork a sandbox per test file (or per worker with
 * `per: 'worker'`), run at most `workers` at once, and write the JSON (and JUnit) reports.
 * With `shard`, only that shard's files of the plan run. Workers take the costliest remaining
 * file first (predicted from the timings file), and the timings file is updated afterwards.
 * Every sandbox is killed before this returns or throws, except failed ones kept on request.
 * @throws SeedforkError for setup problems (seed step, service, missing runner, corrupt
 *   timings); CancelledError when `signal` aborts. Test failures are results, not errors.
 */
export async function run(loaded: LoadedConfig, options: RunOptions = {}): Promise<RunResult> {
  const { config, root } = loaded;
  const settings = runSettings(loaded, options);
  const queueBuild = options.queue ? checkQueueMode(options, settings) : undefined;
  const suite = loadSuite(loaded, options);
  const { costs, shard } = selectShard(suite, options, settings.workers);
  const files = costs.map((c) => c.file).sort(byPath);
  const adapter = adapterFor(config.test.runner);
  adapter.check(root);
  const emit = options.onEvent ?? (() => {});
  const queue = workQueue(costs, settings.per, settings.workers);
  emit({
    type: 'plan',
    files,
    workers: Math.min(settings.workers, queue.length),
    isolation: settings.isolation,
    per: settings.per,
    shard,
  });
  const record = new RunRecord(settings, files, shard);
  const quarantine = quarantineOf(options);
  const { reports } = settings;
  if (queue.length === 0 && !options.queue) {
    // An empty shard (more shards than files): nothing to seed or run, but merge wants its result.
    const result = record.result();
    writeReports(result, reports);
    emit({ type: 'done', result, reports });
    return result;
  }

  let environment: TestEnvironment | undefined;
  let caches: CacheHarvest | undefined;
  let workers: FileWorkers | undefined;
  let client: QueueClient | undefined;
  try {
    let source = listSource(queue);
    let units = queue.length;
    if (options.queue && queueBuild) {
      // join first: a bad token or another suite is said before the seed is paid for
      const suiteId = suiteIdOf(files, 1, 'queue');
      const joined = await QueueClient.join(
        options.queue,
        queueBuild,
        { suiteId, files: [...costs].sort(longestFirst).map((c) => ({ file: c.file, costMs: c.ms })) },
        options.signal,
      );
      client = joined.client;
      source = client;
      units = joined.joined.remaining;
      record.queue = { build: queueBuild, job: options.queue.job, suiteId, files, complete: false };
      emit({
        type: 'notice',
        message: `queue: job ${options.queue.job} joined build ${queueBuild} at ${options.queue.url} (${joined.joined.remaining} of ${joined.joined.files} files left)`,
      });
    }
    const { env: baseEnv, withheld } = baseEnvironment(config);
    const withheldLine = withheldNotice(withheld);
    if (withheldLine) emit({ type: 'notice', message: withheldLine });
    // the runner's workers start (a worker zygote loads the runner) while the seed runs
    if (settings.isolation === 'namespace' && options.fileWorkers) {
      workers = await options.fileWorkers({
        loaded,
        adapter,
        stateDir: settings.stateDir,
        baseEnv,
        workers: settings.workers,
        updateSnapshots: options.updateSnapshots === true,
        notify: (message) => emit({ type: 'notice', message }),
      });
    }
    const seedStarted = performance.now();
    environment = await openEnvironment(settings.isolation, settings.stateDir, {
      loaded,
      baseEnv,
      onSeedEvent: (event: SeedEvent) => emit({ type: 'seed', event }),
      onLeaseReady: (lease) => workers?.prepare?.(lease),
      onGc: (removed) => emit({ type: 'gc', removed }),
      signal: options.signal,
    });
    record.seedMs = Math.round(performance.now() - seedStarted);
    record.snapshot = environment.snapshot;
    const env = environment;
    // one sandbox per group: the warm pool may prepare them ahead of the workers
    env.expect?.(units, settings.workers);
    if (settings.isolation === 'namespace')
      caches = new CacheHarvest(cacheDirsOf(loaded, adapter), settings.stateDir);
    const harvest = caches;
    const fileOptions = unitOptions(loaded, adapter.artifacts ?? [], options);
    await runQueue(
      source,
      env,
      async (lease, file) => {
        emit({ type: 'file-start', file });
        const onOutput = (chunk: string) => emit({ type: 'file-output', file, chunk });
        const done = await runWithRetries(env, lease, adapter, file, {
          retries: settings.retries,
          keepFailed: options.keepFailed === true,
          fileOptions: () => ({ ...fileOptions(), onOutput, ...(workers ? { workers } : {}) }),
          signal: options.signal,
          onRetry: (attempt) => emit({ type: 'file-retry', file, attempt }),
        });
        const result = await markQuarantined(done.result, quarantine);
        record.results.push(result);
        emit({ type: 'file-done', result });
        return done;
      },
      {
        workers: settings.workers,
        keepFailed: options.keepFailed === true,
        signal: options.signal,
        onGroupPassed: harvest ? async (lease) => void (await harvest.collect(lease.sandbox)) : undefined,
      },
    );
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
    if (record.queue && client) record.queue.complete = client.complete;
    caches?.merge();
  } catch (error) {
    // Keep what finished: a cancelled or broken run still leaves its partial results, marked
    // incomplete, and never a previous run's JUnit XML that would look like this run's.
    const cancelled = options.signal?.aborted === true;
    writeIncompleteReports(
      record.result(),
      reports,
      cancelled ? 'cancelled (Ctrl-C)' : (error as Error).message,
    );
    if (record.results.length > 0) saveTimings(loaded, suite, record, options);
    // Whatever failed while cancelling (a seed step or service killed mid-way) is the cancellation.
    if (cancelled) throw new CancelledError('cancelled (Ctrl-C)');
    throw error;
  } finally {
    client?.close();
    caches?.discard(); // merged already unless the run broke off
    await workers?.close();
    await environment?.close();
  }
  const result = record.result();
  writeReports(result, reports);
  saveTimings(loaded, suite, record, options);
  emit({ type: 'done', result, reports });
  return result;
}

/**
 * What queue mode needs: no shard, one file per sandbox, and a build id shared by the jobs.
 * @returns the build id (the run id)
 * @throws SeedforkError saying what to change
 */
function checkQueueMode(options: RunOptions, settings: RunSettings): string {
  if (options.shard)
    throw new SeedforkError('--queue and --shard do not go together', {
      hint: 'With --queue every job takes its files from the shared queue: drop --shard.',
    });
  if (settings.per !== 'file')
    throw new SeedforkError(`queue mode hands out one file at a time, not per: '${settings.per}'`, {
      hint: "Use per: 'file' (the default) with --queue.",
    });
  if (!settings.runId)
    throw new SeedforkError('queue mode needs an id that every job of the CI run shares', {
      hint: 'Pass --run-id or set SEEDFORK_RUN_ID (GitHub Actions, GitLab, Buildkite and CircleCI ids are read by themselves).',
    });
  return settings.runId;
}

/**
 * The {@link runFile} options of each unit of a run, with the artifacts to collect (the
 * adapter's and `test.artifacts`; their directory is emptied once here, at the start of the run).
 */
function unitOptions(
  loaded: LoadedConfig,
  adapterArtifacts: readonly string[],
  options: RunOptions,
): () => RunFileOptions {
  const { config, root } = loaded;
  const patterns = [...adapterArtifacts, ...config.test.artifacts];
  const dir = resolve(root, config.report.artifacts);
  if (patterns.length > 0) rmSync(dir, { recursive: true, force: true });
  return fileOptionsFor(loaded, {
    ...(patterns.length > 0 ? { artifacts: { patterns, dir } } : {}),
    ...(options.updateSnapshots ? { updateSnapshots: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/**
 * The local queue: what each worker takes next, costliest first, so a slow file starts early
 * instead of waiting behind short ones. With `per: 'worker'` each worker's sandbox gets a bin
 * of files packed to equal predicted time.
 */
function workQueue(costs: FileCost[], per: 'file' | 'worker', workers: number): string[][] {
  if (per === 'file') return [...costs].sort(longestFirst).map((c) => [c.file]);
  return partition(costs, workers, 'timing')
    .filter((bin) => bin.length > 0)
    .sort((a, b) => totalMs(b) - totalMs(a))
    .map((bin) => bin.map((c) => c.file));
}

/** A quarantine lookup, or a function that loads one (once): see RunOptions.loadQuarantine. */
type Quarantine = () => Promise<RunOptions['quarantine']>;

/** The run's quarantine lookup: the given one, or the loader's, loaded on first use and kept. */
function quarantineOf(options: RunOptions): Quarantine | undefined {
  const { quarantine, loadQuarantine } = options;
  if (quarantine) return async () => quarantine;
  if (!loadQuarantine) return undefined;
  let loaded: ReturnType<Quarantine> | undefined;
  return () => {
    loaded ??= loadQuarantine();
    return loaded;
  };
}

/** The file's failed and flaky tests that are quarantined, marked with the reason (the
 * quarantine is looked at only when it has some). */
async function markQuarantined(result: FileResult, quarantine: Quarantine | undefined): Promise<FileResult> {
  const marked = (t: { status: string }) => t.status === 'failed' || t.status === 'flaky';
  if (!quarantine || !result.tests.some(marked)) return result;
  const lookup = await quarantine();
  if (!lookup) return result;
  const tests = result.tests.map((t) => {
    if (!marked(t)) return t;
    const reason = lookup(result.file, t.name);
    return reason === undefined ? t : { ...t, quarantined: reason };
  });
  return { ...result, tests };
}
