import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { adapterFor } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import { discoverTestFiles } from '../plan/discover.js';
import { partitionBySize } from '../plan/partition.js';
import { type FileResult, type RunResult, summarize } from '../report/types.js';
import { writeReports } from '../report/write.js';
import { NamespaceBackend } from '../sandbox/namespace/backend.js';
import type { SeedEvent } from '../seed/seed.js';
import { namespaceEnvironment, sharedEnvironment, type TestEnvironment } from './environment.js';
import { runPool } from './pool.js';
import { runFile } from './run-file.js';

/** Options of {@link run}; each overrides the config key of the same name. */
export interface RunOptions {
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
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
}

/** Progress of a run, for reporters. */
export type RunEvent =
  | { type: 'plan'; files: string[]; workers: number; isolation: string; per: 'file' | 'shard' }
  | { type: 'seed'; event: SeedEvent }
  | { type: 'gc'; removed: number }
  | { type: 'file-start'; file: string }
  | { type: 'file-done'; result: FileResult }
  | { type: 'done'; result: RunResult; reports: { json?: string; junit?: string } };

/** Resolve `workers: 'auto'` to the number of CPUs. */
export function resolveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/**
 * Seed once (or reuse the snapshot), fork a sandbox per test file (or per worker with
 * `per: 'shard'`), run at most `workers` at once, and write the JSON (and JUnit) reports.
 * Every sandbox is killed before this returns or throws, except failed ones kept on request.
 * @throws SeedforkError for setup problems (seed step, service, missing runner); CancelledError
 *   when `signal` aborts. Test failures are results, not errors.
 */
export async function run(loaded: LoadedConfig, options: RunOptions = {}): Promise<RunResult> {
  const { config, root } = loaded;
  const isolation = options.isolation ?? config.isolation;
  const per = options.per ?? config.per;
  const workers = resolveWorkers(options.workers ?? config.workers);
  const stateDir = resolve(root, config.stateDir);
  const files = discoverTestFiles(root, config.test.include, config.test.exclude, options.filter);
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
  const baseEnv: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...config.test.env,
    SEEDFORK: '1',
  };
  const groups = per === 'shard' ? partitionBySize(root, files, workers) : files.map((f) => [f]);
  emit({ type: 'plan', files, workers: Math.min(workers, groups.length), isolation, per });

  let environment: TestEnvironment | undefined;
  const results: FileResult[] = [];
  const finish = (): RunResult => {
    const ordered = [...results].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file));
    return {
      version: 1,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(Date.now() - startedAt.getTime()),
      isolation,
      per,
      workers,
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
  try {
    if (isolation === 'namespace') {
      assertVisibleInSandboxes(root);
      const backend = new NamespaceBackend(stateDir, { ownDirs: [root] });
      await backend.preflight();
      const gc = await backend.gc();
      const removed = gc.sandboxes.length + gc.cgroups.length + gc.snapshotsInProgress.length;
      if (removed > 0) emit({ type: 'gc', removed });
      environment = await namespaceEnvironment(backend, environmentOptions);
    } else {
      environment = await sharedEnvironment(stateDir, environmentOptions);
    }
    const env = environment;
    let index = 0;
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
            const result = await runFile(lease, adapter, file, {
              root,
              timeoutMs: config.test.timeoutMs,
              index: index++,
              signal: options.signal,
            });
            if (result.status !== 'passed') failed.push(result);
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
    if (results.length > 0) writeReports(finish(), { json: reports.json });
    // Whatever failed while cancelling (a seed step or service killed mid-way) is the cancellation.
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
    throw error;
  } finally {
    await environment?.close();
  }
  const result = finish();
  writeReports(result, reports);
  emit({ type: 'done', result, reports });
  return result;
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
