import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jestAdapter, jestCacheDir } from '../../adapters/jest.js';
import { CacheHarvest, cacheDirsOf } from '../../run/caches.js';
import type { TestEnvironment } from '../../run/environment.js';
import { runPool } from '../../run/pool.js';
import { openProjectEnvironment } from '../project-environment.js';

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

/**
 * A Jest test runner (Jest's `runner` option: `runner: 'seedfork/jest'`) that runs every test
 * file in a sandbox of its own, forked from the snapshot seedfork's config seeds (its services
 * running: DATABASE_URL and friends in the environment). Jest itself stays as it is: its CLI,
 * watch mode, reporters and config; it starts once, and only a small worker (worker.cts, which
 * calls jest-runner's own testWorker) starts in each sandbox. Sandboxes come from the warm pool,
 * at most `maxWorkers` at once. Jest's transform cache (ts-jest's, babel-jest's) is kept warm in
 * node_modules/.cache/seedfork-jest: new entries of passing files are merged after the run.
 *
 * An emitting runner, as jest-runner's own (the interface of `EmittingTestRunner` in
 * jest-runner's types): emits `test-file-start`, the worker's `test-case-start` and
 * `test-case-result` events, then `test-file-success` or `test-file-failure`.
 * Inside a seedfork sandbox already (the same Jest config under `seedfork run`), Jest's own
 * runner runs the files.
 * Docs: https://jestjs.io/docs/configuration#runner-string
 */
export default class SeedforkJestRunner {
  readonly supportsEventEmitters = true;
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
    const runner = new TestRunner(this.globalConfig, this.context);
    const events = [
      'test-file-start',
      'test-file-success',
      'test-file-failure',
      'test-case-start',
      'test-case-result',
    ];
    const unsubscribe = events.map((event) => runner.on(event, (args) => this.emit(event, args)));
    try {
      await runner.runTests(tests, watcher, options);
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
  async runTests(tests: JestTest[], watcher: JestWatcher, options: { serial: boolean }): Promise<void> {
    const rootDir = tests[0]?.context.config.rootDir ?? this.globalConfig.rootDir;
    if (process.env.SEEDFORK_SANDBOX_ID) return this.runWithJest(rootDir, tests, watcher, options);
    const { loaded, stateDir, environment } = await openProjectEnvironment(rootDir);
    // Jest runs small suites in band when it guesses that starting workers costs more than the
    // tests (options.serial); sandboxes are prepared ahead by the warm pool, so seedfork keeps
    // every worker busy. `-i` sets maxWorkers to 1 and still runs one at a time.
    const workers = Math.max(1, this.globalConfig.maxWorkers);
    environment.expect?.(tests.length, workers);
    // Jest's cache defaults to /tmp, fresh in every sandbox: one kept warm instead (see caches.ts)
    const caches = new CacheHarvest(cacheDirsOf(loaded, jestAdapter), stateDir);
    const moduleMaps = new Map<string, unknown>();
    const context = {
      changedFiles: this.context.changedFiles && [...this.context.changedFiles],
      sourcesRelatedToTestsInChangedFiles: this.context.sourcesRelatedToTestsInChangedFiles && [
        ...this.context.sourcesRelatedToTestsInChangedFiles,
      ],
    };
    try {
      await runPool(tests, workers, async (test, index) => {
        if (watcher.isInterrupted()) return;
        await this.emit('test-file-start', [test]);
        const config = { ...test.context.config, cacheDirectory: jestCacheDir(rootDir) };
        if (!moduleMaps.has(config.id)) moduleMaps.set(config.id, test.context.moduleMap.toJSON());
        const request = {
          rootDir,
          path: test.path,
          config,
          globalConfig: this.globalConfig,
          context,
          moduleMap: moduleMaps.get(config.id),
        };
        try {
          const outcome = await runInSandbox(
            environment,
            request,
            (index % workers) + 1,
            loaded.config.test.timeoutMs,
            caches,
          );
          for (const [event, args] of outcome.events ?? []) await this.emit(event, args);
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
      caches.discard();
      await environment.close();
    }
  }
}

/** Jest's own runner (jest-runner's default export), as the project has it. */
interface JestRunner {
  on(event: string, listener: Listener): () => void;
  runTests(tests: JestTest[], watcher: JestWatcher, options: { serial: boolean }): Promise<void>;
}

interface Outcome {
  result?: unknown;
  events?: [string, unknown][];
  error?: { message: string; stack?: string };
}

/** Whether a file's outcome is a pass (Jest's TestResult: no failing test, no exec error). */
function passed(outcome: Outcome): boolean {
  const result = outcome.result as { numFailingTests?: number; testExecError?: unknown } | undefined;
  return !outcome.error && result !== undefined && !result.numFailingTests && !result.testExecError;
}

/** Run one file's worker in a fresh sandbox and read what it wrote; the sandbox is killed after. */
async function runInSandbox(
  environment: TestEnvironment,
  request: { rootDir: string; path: string },
  workerId: number,
  timeoutMs: number,
  caches: CacheHarvest,
): Promise<Outcome> {
  const lease = await environment.acquire();
  try {
    const { sandbox } = lease;
    const dir = '/tmp/.seedfork-jest';
    await sandbox.makeDir(dir);
    await sandbox.writeFile(`${dir}/request.json`, JSON.stringify(request));
    const run = await sandbox.exec([process.execPath, WORKER, `${dir}/request.json`, `${dir}/result.json`], {
      cwd: request.rootDir,
      env: { ...lease.env, JEST_WORKER_ID: String(workerId), SEEDFORK_ATTEMPT: '1' },
      timeoutMs,
    });
    const text = (await sandbox.readFile(`${dir}/result.json`))?.toString('utf8');
    if (!text) {
      const why =
        run.sandboxDied ??
        run.limit?.message ??
        (run.timedOut ? `timed out after ${timeoutMs} ms` : `exited ${run.exitCode}`);
      return {
        error: {
          message: `the test file's worker in sandbox ${sandbox.id} ${why}, with no result:\n${run.output.slice(-4000)}`,
        },
      };
    }
    const outcome = JSON.parse(text) as Outcome;
    if (passed(outcome)) await caches.collect(sandbox);
    return outcome;
  } finally {
    await lease.release(false);
  }
}
