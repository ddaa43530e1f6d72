import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { jestAdapter } from '../../adapters/jest.js';
import { CacheHarvest, cacheDirsOf } from '../../run/caches.js';
import type { Lease, TestEnvironment } from '../../run/environment.js';
import { runPool } from '../../run/pool.js';
import type { WarmPool } from '../../run/warm-pool.js';
import type { RunningTemplate } from '../../sandbox/index.js';
import { loadProject, openProjectEnvironment } from '../project-environment.js';
import { StartedWorker, startedWorkerPool } from '../started-workers.js';
import type { HeadStart, JestSetup, JestTest, JestWatcher } from './runner.js';
import { type Outcome, talkToWorker } from './worker-client.js';
import { startJestZygote } from './zygote-start.js';

/** The worker that runs one file inside a sandbox (worker.cts, compiled beside this file). */
const WORKER = fileURLToPath(new URL('./worker.cjs', import.meta.url));

/** What the Jest runner hands over: Jest's files and settings, and the zygotes it started. */
export interface SandboxedRun {
  tests: JestTest[];
  watcher: JestWatcher;
  rootDir: string;
  /** Jest's `maxWorkers`: files at once. */
  maxWorkers: number;
  /** Each Jest project's worker zygote, by config id, started before seedfork's config was read. */
  headStarts: Map<string, HeadStart>;
  /** Pass one of Jest's runner events on (test-file-start, test-case-result…). */
  emit(event: string, args: unknown): Promise<void>;
}

/**
 * Run `tests`, each in a fresh sandbox forked from the snapshot seedfork's config seeds, at most
 * `maxWorkers` at once, each file's worker forked from its project's zygote (or started afresh).
 * @throws SeedforkError when seedfork's config is missing or invalid, or seeding fails
 */
export async function runInSandboxes(run: SandboxedRun): Promise<void> {
  const { tests, watcher, rootDir, emit } = run;
  const project = await loadProject(rootDir);
  const { loaded, stateDir, baseEnv } = project;
  const warmUpDir = join(stateDir, 'jest-warm-up');
  // the zygotes go on to their warm-up while the snapshot is found (or seeded); one started with
  // another environment than the config's (test.env) is replaced by one started with it
  const zygotes = new Map<string, Promise<RunningTemplate | undefined>>();
  const startedHere: Promise<RunningTemplate | undefined>[] = [];
  for (const [id, start] of run.headStarts) {
    if (sameEnv(start.env, baseEnv)) {
      start.finish(warmUpDir);
      zygotes.set(id, start.zygote);
    } else {
      start.finish(undefined);
      void start.zygote.then((zygote) => zygote?.close());
      const zygote = startJestZygote(rootDir, JSON.stringify({ ...start.setup, warmUpDir }), baseEnv);
      startedHere.push(zygote);
      zygotes.set(id, zygote);
    }
  }
  let environment: TestEnvironment | undefined;
  // one warm pool of started workers per Jest project (config), each told how many files come
  const pools = new Map<string, WarmPool<StartedWorker>>();
  // Jest's cache defaults to /tmp, fresh in every sandbox: one kept warm instead (see caches.ts)
  const caches = new CacheHarvest(cacheDirsOf(loaded, jestAdapter), stateDir);
  try {
    environment = (await openProjectEnvironment(project)).environment;
    // Jest runs small suites in band when it guesses that starting workers costs more than the
    // tests (options.serial); sandboxes are prepared and their workers started ahead by the
    // warm pool, so seedfork keeps every worker busy. `-i` sets maxWorkers to 1 and still runs
    // one at a time.
    const workers = Math.max(1, run.maxWorkers);
    for (const [id, start] of run.headStarts) {
      const zygote = await zygotes.get(id);
      const setup = { ...start.setup, warmUpDir };
      const pool = startedWorkerPool(environment, workers, (lease) =>
        zygote && lease.sandbox.spawnFrom
          ? forkJestWorker(lease, zygote, rootDir)
          : startJestWorker(lease, setup),
      );
      pool.expect(tests.filter((t) => t.context.config.id === id).length);
      pools.set(id, pool);
    }
    await runPool(tests, workers, async (test, index) => {
      if (watcher.isInterrupted()) return;
      await emit('test-file-start', [test]);
      try {
        const outcome = await runInSandbox(
          pools.get(test.context.config.id)!,
          { path: test.path, workerId: (index % workers) + 1 },
          loaded.config.test.timeoutMs,
          caches,
          emit,
        );
        if (outcome.error) await emit('test-file-failure', [test, outcome.error]);
        else await emit('test-file-success', [test, outcome.result]);
      } catch (error) {
        await emit('test-file-failure', [
          test,
          { message: (error as Error).message, stack: (error as Error).stack },
        ]);
      }
    });
    if (!watcher.isInterrupted()) caches.merge();
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
    await Promise.all(startedHere.map(async (zygote) => (await zygote)?.close()));
    caches.discard();
    await environment?.close();
  }
}

/** Whether two environments have the same variables with the same values. */
function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => b[key] === a[key]);
}

/** Whether a file's outcome is a pass (Jest's TestResult: no failing test, no exec error). */
function passed(outcome: Outcome): boolean {
  const result = outcome.result as { numFailingTests?: number; testExecError?: unknown } | undefined;
  return !outcome.error && result !== undefined && !result.numFailingTests && !result.testExecError;
}

/** Fork the zygote's worker into a fresh sandbox: Jest is loaded there already; it waits for a file. */
function forkJestWorker(lease: Lease, zygote: RunningTemplate, rootDir: string): StartedWorker {
  const child = lease.sandbox.spawnFrom!(zygote, {
    cwd: rootDir,
    env: { ...lease.env, SEEDFORK_ATTEMPT: '1' },
  });
  return new StartedWorker(lease, child, true);
}

/** Start worker.cjs in a fresh sandbox and send it its setup: it loads Jest and waits for a file. */
function startJestWorker(lease: Lease, setup: JestSetup): StartedWorker {
  const child = lease.sandbox.spawn([process.execPath, WORKER], {
    cwd: setup.rootDir,
    env: { ...lease.env, SEEDFORK_ATTEMPT: '1' },
    channel: true,
  });
  const worker = new StartedWorker(lease, child, true);
  const channel = child.stdio[3] as Duplex;
  channel.write(`${JSON.stringify({ setup })}\n`);
  return worker;
}

/**
 * Run one file in a sandbox whose worker the warm pool started, passing Jest's per-test events
 * on as they come; the sandbox is killed after.
 */
async function runInSandbox(
  pool: WarmPool<StartedWorker>,
  request: { path: string; workerId: number },
  timeoutMs: number,
  caches: CacheHarvest,
  onEvent: (event: string, args: unknown) => Promise<void>,
): Promise<Outcome> {
  const worker = await pool.acquire();
  const { sandbox } = worker.lease;
  try {
    const { outcome, broken, timedOut } = await talkToWorker(worker.child, request, { timeoutMs, onEvent });
    if (outcome) {
      if (passed(outcome)) await caches.collect(sandbox);
      return outcome;
    }
    const { limit, died } = await sandbox.incidents();
    const why =
      broken ??
      died ??
      limit?.message ??
      (timedOut ? `timed out after ${timeoutMs} ms` : (worker.ended ?? 'closed its channel'));
    return {
      error: {
        message: `the test file's worker in sandbox ${sandbox.id} stopped with no result: ${why}\n${worker.output.slice(-4000)}`,
      },
    };
  } finally {
    await worker.release(false);
  }
}
