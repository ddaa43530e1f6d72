import { createRequire } from 'node:module';
import { join } from 'node:path';
import { jestCacheDir } from '../../adapters/jest-cache.js';
import { filterHostEnv } from '../../sandbox/host-env.js';
import type { RunningTemplate } from '../../sandbox/process-template.js';
import type { Sandbox } from '../../sdk/sandbox.js';
import type { SeededOptions } from '../../sdk/seeded.js';
import type { Snapshot } from '../../sdk/snapshot.js';
import { startJestZygote } from './zygote-start.js';

export { databasePerTest, rollbackPerTest, withTestDatabase } from '../fixtures/jest.js';

/**
 * The SDK's withSandbox (sdk/seeded.ts), for Jest's test files: `fn` gets a sandbox of its own,
 * forked from the project's seeded snapshot, killed when `fn` settles (kept when it throws and
 * SEEDFORK_KEEP_FAILED=1). The SDK loads when it is first called: this module is also what Jest's
 * own process loads as the runner, before it starts the worker zygote, and the SDK's modules
 * (the backends, the seed) would cost that start about 90 ms.
 * @throws what `fn` throws; SeedforkError when the snapshot cannot be had or forked
 */
export async function withSandbox<T>(
  fn: (sandbox: Sandbox) => Promise<T>,
  options: SeededOptions & { snapshot?: Snapshot } = {},
): Promise<T> {
  return (await import('../../sdk/seeded.js')).withSandbox(fn, options);
}

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

/** What a Jest worker needs to run files of one project (serve-file.cts's Setup): Jest's config
 * and module map, as its main process made them. */
export interface JestSetup {
  rootDir: string;
  config: unknown;
  globalConfig: unknown;
  context: unknown;
  moduleMap: unknown;
  warmUpDir?: string;
}

/** A Jest project's worker zygote, started as soon as Jest hands over its files, before seedfork
 * reads its own config (see startHeadStarts). */
export interface HeadStart {
  /** Its setup, less the warm-up directory (seedfork's config says where that is). */
  setup: JestSetup;
  /** The environment it was started with. */
  env: Record<string, string>;
  /** The zygote; undefined where it cannot run (said once). */
  zygote: Promise<RunningTemplate | undefined>;
  /** Send the rest of its setup, the warm-up directory (undefined: none): it goes on from there. */
  finish(warmUpDir: string | undefined): void;
}

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
    // The worker zygotes start first: Node's start and Jest's modules (hundreds of ms) overlap
    // loading the rest of seedfork, reading its config and finding the snapshot.
    const headStarts = this.startHeadStarts(tests, rootDir);
    try {
      const { runInSandboxes } = await import('./sandboxed-run.js');
      await runInSandboxes({
        tests,
        watcher,
        rootDir,
        maxWorkers: this.globalConfig.maxWorkers,
        headStarts,
        emit: (event, args) => this.emit(event, args),
      });
    } finally {
      for (const start of headStarts.values()) start.finish(undefined);
      await Promise.all([...headStarts.values()].map(async (start) => (await start.zygote)?.close()));
    }
  }

  /**
   * Start one worker zygote per Jest project (config) among `tests`, with this process's
   * environment less secret-looking names and SEEDFORK=1 (what seedfork's config gives, unless
   * its test.env or sandbox.env changes it),
   * Jest's setup on fd 4 and the warm-up directory to follow.
   */
  private startHeadStarts(tests: JestTest[], rootDir: string): Map<string, HeadStart> {
    const context = {
      changedFiles: this.context.changedFiles && [...this.context.changedFiles],
      sourcesRelatedToTestsInChangedFiles: this.context.sourcesRelatedToTestsInChangedFiles && [
        ...this.context.sourcesRelatedToTestsInChangedFiles,
      ],
    };
    const env = { ...filterHostEnv(process.env).env, SEEDFORK: '1' };
    const starts = new Map<string, HeadStart>();
    for (const test of tests) {
      const { id } = test.context.config;
      if (starts.has(id)) continue;
      const setup: JestSetup = {
        rootDir,
        config: { ...test.context.config, cacheDirectory: jestCacheDir(rootDir) },
        globalConfig: this.globalConfig,
        context,
        moduleMap: test.context.moduleMap.toJSON(),
      };
      let finish: (warmUpDir: string | undefined) => void = () => {};
      const rest = new Promise<string>((resolve) => {
        finish = (warmUpDir) => resolve(warmUpDir ? JSON.stringify({ warmUpDir }) : '');
      });
      const zygote = startJestZygote(rootDir, [`${JSON.stringify(setup)}\n`, rest], env);
      starts.set(id, { setup, env, zygote, finish });
    }
    return starts;
  }
}

/** Jest's own runner (jest-runner's default export), as the project has it. */
interface JestRunner {
  on(event: string, listener: Listener): () => void;
  runTests(tests: JestTest[], watcher: JestWatcher, ...rest: unknown[]): Promise<void>;
}
