import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { jestAdapter, jestCacheDir } from '../../adapters/jest.js';
import { CacheHarvest, cacheDirsOf } from '../../run/caches.js';
import type { Lease } from '../../run/environment.js';
import { runPool } from '../../run/pool.js';
import type { WarmPool } from '../../run/warm-pool.js';
import type { RunningTemplate } from '../../sandbox/index.js';
import { openProjectEnvironment } from '../project-environment.js';
import { StartedWorker, startedWorkerPool, startWorkerZygote } from '../started-workers.js';
import { type Outcome, talkToWorker } from './worker-client.js';

export { databasePerTest, rollbackPerTest, withTestDatabase } from '../fixtures/jest.js';

/** What seedfork reads of Jest's `Test` (@jest/test-result): the file and its project's context. */
export interface JestTest {
  path: string;
  context: { config: { id: string; rootDir: string }; moduleMap: { toJSON(): unknown } };
}

/** Jest's watcher (@jest/core's TestWatcher): whether the run was interrupted (watch mode). */
export interface JestWatcher {
  isInterrupted(): boolean;
}

type Listener = (args: unknown) => unknown;

/** The worker that runs one file inside a sandbox (worker.cts, compiled beside this file). */
const WORKER = fileURLToPath(new URL('./worker.cjs', import.meta.url));
/** The worker zygote (zygote.cts): Jest loaded once on the host, forked into each sandbox. */
const ZYGOTE = fileURLToPath(new URL('./zygote.cjs', import.meta.url));

/**
 * A Jest test runner (Jest's `runner` option: `runner: 'seedfork/jest'`) that runs every test
 * file in a sandbox of its own, forked from the snapshot seedfork's config seeds (its services
 * running: DATABASE_URL and friends in the environment). Jest itself stays as it is: its CLI,
 * watch mode, reporters and config; it starts once, and only a small worker (worker.cts, which
 * calls jest-runner's own testWorker) runs in each sandbox. A warm pool keeps one sandbox per
 * worker forked, its services up and its worker started with Jest's modules loaded, so a file
 * starts as soon as a worker is free; at most `maxWorkers` files run at once. Jest's transform cache (ts-jest's, babel-jest's) is kept warm in
 * node_modules/.cache/seedfork-jest: new entries of passing files are merged after the run.
 *
 * An emitting runner, as jest-runner's own (the interface of `EmittingTestRunner` in
 * jest-runner's types): emits `test-file-start`, the worker's `test-case-start` and
 * `test-case-result` events as they happen, then `test-file-success` or `test-file-failure`.
 * Inside a seedfork sandbox already (the same Jest config under `seedfork run`), Jest's own
 * runner runs the files.
 * Docs: https://jestjs.io/docs/configuration#runner-string
 */
export default class SeedforkJestRunner {
  readonly supportsEventEmitters = true;
  /** Jest 27's name for {@link supportsEventEmitters} (its TestScheduler reads only this one). */
  readonly __PRIVATE_UNSTABLE_API_supportsEventEmitters__ = true;
  readonly isSerial = false;
  private readonly listeners = new Map<string, Set<Listener>>();

  /**
   * @param globalConfig Jest's global config (JSON-serialisable; `rootDir`, `maxWorkers`)
   * @param context Jest's test context (changed files in watch mode)
   */
  constructor(
    private readonly globalConfig: { rootDir: string; maxWorkers: number },
    private readonly context: {
      changedFiles?: Set<string>;
      sourcesRelatedToTestsInChangedFiles?: Set<string>;
    },
  ) {}

  /** Subscribe to an event; returns the unsubscribe function. */
  on(event: string, listener: Listener): () => void {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener);
    this.listeners.set(event, set);
    return () => set.delete(listener);
  }

  /**
   * Already inside a seedfork sandbox (`seedfork run` with runner 'jest' on this config): Jest's
   * own runner does the work, its events passed on, rather than sandboxes within the sandbox.
   */
  private async runWithJest(
    rootDir: string,
    tests: JestTest[],
    watcher: JestWatcher,
    options: { serial: boolean },
  ): Promise<void> {
    const require = createRequire(join(rootDir, 'package.json'));
    const { default: TestRunner } = require('jest-runner') as {
      default: new (globalConfig: unknown, context: unknown) => JestRunner;
    };
    const runner = new TestRunner(this.globalConfig, this.context) as JestRunner & {
      __PRIVATE_UNSTABLE_API_supportsEventEmitters__?: boolean;
      supportsEventEmitters?: boolean;
    };
    const events = [
      'test-file-start',
      'test-file-success',
      'test-file-failure',
      'test-case-start',
      'test-case-result',
    ];
    const unsubscribe = events.map((event) => runner.on(event, (args) => this.emit(event, args)));
    try {
      // Jest 27's runTests takes the legacy callbacks before the options
      if (runner.supportsEventEmitters) await runner.runTests(tests, watcher, options);
      else await runner.runTests(tests, watcher, undefined, undefined, undefined, options);
    } finally {
      for (const off of unsubscribe) off();
    }
  }

  private async emit(event: string, args: unknown): Promise<void> {
    for (const listener of this.listeners.get(event) ?? []) await listener(args);
  }

  /**
   * Run `tests`, each in a fresh sandbox.
   * @throws SeedforkError when seedfork's config is missing or invalid, or seeding fails
   */
  async runTests(tests: JestTest[], watcher: JestWatcher, ...rest: unknown[]): Promise<void> {
    // Jest 28-30 pass (tests, watcher, options); Jest 27 (tests, watcher, onStart, onResult,
    // onFailure, options), the callbacks undefined for a runner with event emitters
    const options = (rest.length > 1 ? rest[3] : rest[0]) as { serial: boolean };
    const rootDir = tests[0]?.context.config.rootDir ?? this.globalConfig.rootDir;
    if (process.env.SEEDFORK_SANDBOX_ID) return this.runWithJest(rootDir, tests, watcher, options);
    const { loaded, stateDir, environment, baseEnv } = await openProjectEnvironment(rootDir);
    // Jest runs small suites in band when it guesses that starting workers costs more than the
    // tests (options.serial); sandboxes are prepared and their workers started ahead by the
    // warm pool, so seedfork keeps every worker busy. `-i` sets maxWorkers to 1 and still runs
    // one at a time.
    const workers = Math.max(1, this.globalConfig.maxWorkers);
    // Jest's cache defaults to /tmp, fresh in every sandbox: one kept warm instead (see caches.ts)
    const caches = new CacheHarvest(cacheDirsOf(loaded, jestAdapter), stateDir);
    const context = {
      changedFiles: this.context.changedFiles && [...this.context.changedFiles],
      sourcesRelatedToTestsInChangedFiles: this.context.sourcesRelatedToTestsInChangedFiles && [
        ...this.context.sourcesRelatedToTestsInChangedFiles,
      ],
    };
    // one warm pool of started workers per Jest project (config), each told how many files come
    const pools = new Map<string, WarmPool<StartedWorker>>();
    const zygotes: RunningTemplate[] = [];
    for (const test of tests) {
      const { id } = test.context.config;
      if (pools.has(id)) continue;
      const setup = {
        rootDir,
        config: { ...test.context.config, cacheDirectory: jestCacheDir(rootDir) },
        globalConfig: this.globalConfig,
        context,
        moduleMap: test.context.moduleMap.toJSON(),
        warmUpDir: join(stateDir, 'jest-warm-up'),
      };
      const zygote = await startZygote(setup, baseEnv);
      if (zygote) zygotes.push(zygote);
      const pool = startedWorkerPool(environment, workers, (lease) =>
        zygote && lease.sandbox.spawnFrom
          ? forkJestWorker(lease, zygote, rootDir)
          : startJestWorker(lease, setup),
      );
      pool.expect(tests.filter((t) => t.context.config.id === id).length);
      pools.set(id, pool);
    }
    try {
      await runPool(tests, workers, async (test, index) => {
        if (watcher.isInterrupted()) return;
        await this.emit('test-file-start', [test]);
        try {
          const outcome = await runInSandbox(
            pools.get(test.context.config.id)!,
            { path: test.path, workerId: (index % workers) + 1 },
            loaded.config.test.timeoutMs,
            caches,
            (event, args) => this.emit(event, args),
          );
          if (outcome.error) await this.emit('test-file-failure', [test, outcome.error]);
          else await this.emit('test-file-success', [test, outcome.result]);
        } catch (error) {
          await this.emit('test-file-failure', [
            test,
            { message: (error as Error).message, stack: (error as Error).stack },
          ]);
        }
      });
      if (!watcher.isInterrupted()) caches.merge();
    } finally {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      await Promise.all(zygotes.map((zygote) => zygote.close()));
      caches.discard();
      await environment.close();
    }
  }
}

/** Jest's own runner (jest-runner's default export), as the project has it. */
interface JestRunner {
  on(event: string, listener: Listener): () => void;
  runTests(tests: JestTest[], watcher: JestWatcher, ...rest: unknown[]): Promise<void>;
}

/** Whether a file's outcome is a pass (Jest's TestResult: no failing test, no exec error). */
function passed(outcome: Outcome): boolean {
  const result = outcome.result as { numFailingTests?: number; testExecError?: unknown } | undefined;
  return !outcome.error && result !== undefined && !result.numFailingTests && !result.testExecError;
}

/** Whether the zygote's absence was said already (once per process). */
let saidNoZygote = false;

/**
 * Start the worker zygote of one Jest project: Jest's modules loaded once on the host, forked
 * into each sandbox. Undefined where it cannot run (said once on stderr: workers start afresh,
 * slower) or when SEEDFORK_ZYGOTE=0 asks for fresh workers.
 */
function startZygote(
  setup: { rootDir: string },
  env: Record<string, string>,
): Promise<RunningTemplate | undefined> {
  return startWorkerZygote(
    [process.execPath, ZYGOTE],
    { cwd: setup.rootDir, env, input: JSON.stringify(setup) },
    (reason) => {
      if (!saidNoZygote)
        process.stderr.write(`seedfork: Jest workers start afresh in each sandbox (slower): ${reason}\n`);
      saidNoZygote = true;
    },
  );
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
function startJestWorker(lease: Lease, setup: unknown): StartedWorker {
  const child = lease.sandbox.spawn([process.execPath, WORKER], {
    cwd: (setup as { rootDir: string }).rootDir,
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
