import type { Lease, TestEnvironment } from '../../run/environment.js';
import type { WarmPool } from '../../run/warm-pool.js';
import type { RunningTemplate } from '../../sandbox/index.js';
import { openProjectEnvironment } from '../project-environment.js';
import { StartedWorker, startedWorkerPool } from '../started-workers.js';
import { ChannelPoolWorker } from './channel-worker.js';

export { withSandbox } from '../../sdk/seeded.js';
export { type DatabaseFixtures, databaseFixtures, sandboxFixtures } from '../fixtures/vitest.js';

import { startVitestWorker, startVitestZygote, type VitestWorkerSpec, workerKey } from './worker-process.js';

/** What seedfork reads of Vitest 4's pool options (`PoolOptions` in vitest/node). */
export interface VitestPoolOptions {
  /** Vitest's dist directory: its forks worker is `workers/forks.js` there. */
  distPath: string;
  project: {
    config: { root: string; maxWorkers?: number };
    vitest: {
      logger: { outputStream: NodeJS.WritableStream; errorStream: NodeJS.WritableStream };
      /** Run `fn` when Vitest closes (the end of `vitest run`, or quitting watch mode). */
      onClose(fn: () => unknown): void;
    };
  };
  env: Partial<NodeJS.ProcessEnv>;
  execArgv: string[];
}

/** Vitest 4's `PoolRunnerInitializer`: what config `test.pool` takes. */
export interface VitestPoolRunner {
  readonly name: string;
  createPoolWorker(options: VitestPoolOptions): SandboxPoolWorker;
}

/** A project's environment and the base environment of its commands. */
interface Project {
  environment: TestEnvironment;
  baseEnv: Record<string, string>;
}

/** One environment (seeded snapshot) per project root and Vitest process, opened on first
 * use and closed (every sandbox killed) when Vitest closes. */
const environments = new Map<string, Promise<Project>>();

/** The worker zygotes of each project root's pools, closed after the pools. */
const zygotes = new Map<string, RunningTemplate[]>();

/** Whether the zygote's absence was said already (once per process). */
let saidNoZygote = false;

/** Warm pools of sandboxes with Vitest's worker started: per project root, then per env and
 * execArgv. */
const pools = new Map<string, Map<string, Promise<WarmPool<StartedWorker>>>>();

function environmentFor(options: VitestPoolOptions): Promise<Project> {
  const root = options.project.config.root;
  let env = environments.get(root);
  if (!env) {
    env = openProjectEnvironment(root);
    environments.set(root, env);
    const opened = env;
    options.project.vitest.onClose(async () => {
      environments.delete(root);
      const closing = [...(pools.get(root)?.values() ?? [])];
      pools.delete(root);
      await Promise.all(closing.map(async (pool) => (await pool.catch(() => undefined))?.close()));
      const templates = zygotes.get(root) ?? [];
      zygotes.delete(root);
      await Promise.all(templates.map((zygote) => zygote.close()));
      await (await opened.catch(() => undefined))?.environment.close();
    });
  }
  return env;
}

/**
 * The warm pool for `options`: Vitest's forks worker started ahead of need in sandboxes forked
 * and made ready beforehand, one per Vitest worker (see `startedWorkerPool`). Vitest hands
 * files over one at a time, so the pool expects an open-ended stream; the few left over are
 * killed when Vitest closes.
 */
function poolFor(options: VitestPoolOptions): Promise<WarmPool<StartedWorker>> {
  const root = options.project.config.root;
  const byArgs = pools.get(root) ?? new Map<string, Promise<WarmPool<StartedWorker>>>();
  pools.set(root, byArgs);
  const key = workerKey(options);
  let pool = byArgs.get(key);
  if (!pool) {
    pool = environmentFor(options).then(async ({ environment, baseEnv }) => {
      const zygote = await startZygote(options, baseEnv);
      const started = startedWorkerPool(environment, options.project.config.maxWorkers ?? 1, (lease) =>
        startWorker(lease, options, zygote),
      );
      started.expect(Number.POSITIVE_INFINITY);
      if (zygote) zygotes.set(root, [...(zygotes.get(root) ?? []), zygote]);
      return started;
    });
    byArgs.set(key, pool);
  }
  return pool;
}

/** How Vitest starts the workers of `options`. */
function workerSpec(options: VitestPoolOptions): VitestWorkerSpec {
  const { distPath, execArgv, env } = options;
  return { distPath, execArgv, env, root: options.project.config.root };
}

/**
 * Start the worker zygote of one pool (see startVitestZygote); undefined where it cannot run
 * (said once on stderr: workers start afresh) or when SEEDFORK_ZYGOTE=0 asks for fresh workers.
 */
function startZygote(
  options: VitestPoolOptions,
  baseEnv: Record<string, string>,
): Promise<RunningTemplate | undefined> {
  return startVitestZygote(workerSpec(options), baseEnv, (reason) => {
    if (!saidNoZygote) {
      options.project.vitest.logger.errorStream.write(
        `seedfork: Vitest workers start afresh in each sandbox (slower): ${reason}\n`,
      );
    }
    saidNoZygote = true;
  });
}

/** Start Vitest's forks worker in a sandbox (see startVitestWorker); its stdout and stderr go
 * to Vitest's, as the forks pool's do. */
function startWorker(
  lease: Lease,
  options: VitestPoolOptions,
  zygote: RunningTemplate | undefined,
): StartedWorker {
  const child = startVitestWorker(lease, workerSpec(options), zygote);
  const { logger } = options.project.vitest;
  child.stdout?.pipe(logger.outputStream, { end: false });
  child.stderr?.pipe(logger.errorStream, { end: false });
  return new StartedWorker(lease, child, false);
}

/**
 * A Vitest pool (Vitest 4's custom pool runner, https://vitest.dev/advanced/pool) that runs
 * every test file in a seedfork sandbox of its own, forked from the snapshot of the project's
 * seedfork.config with its services running. Vitest stays as it is: its CLI, watch mode,
 * reporters and config. In each sandbox only Vitest's own forks worker starts (through
 * channel.cts, which carries its IPC channel over fd 3), and it starts before the
 * file is handed over: a warm pool keeps sandboxes forked, their services up and their worker
 * booted while the other files run. Inside a seedfork sandbox
 * already (the same config under `seedfork run`) it is Vitest's own `forks` pool.
 *
 * ```ts
 * // vitest.config.ts
 * import { seedforkPool } from 'seedfork/vitest';
 * export default defineConfig({ test: { pool: seedforkPool() } });
 * ```
 */
export function seedforkPool(): VitestPoolRunner | 'forks' {
  // Already inside a seedfork sandbox (`seedfork run` with runner 'vitest' on this config):
  // Vitest's own forks pool, not sandboxes within the sandbox.
  if (process.env.SEEDFORK_SANDBOX_ID) return 'forks';
  return { name: 'seedfork', createPoolWorker: (options) => new SandboxPoolWorker(options) };
}

/**
 * Vitest's `PoolWorker` over a sandbox: `start` takes a fresh sandbox whose worker the warm pool
 * started ahead of need, `stop` kills the sandbox. Never reused: one sandbox per task (file), as
 * `isolate` asks.
 */
export class SandboxPoolWorker extends ChannelPoolWorker {
  private worker: StartedWorker | undefined;

  constructor(private readonly options: VitestPoolOptions) {
    super();
  }

  /**
   * Take a sandbox with Vitest's forks worker started in it from the warm pool (or fork one and
   * start the worker now, when none is ready).
   * @throws SeedforkError when seedfork's config is missing or invalid, or seeding fails
   * @throws Error when the worker died before its test file started (its stderr went to Vitest's)
   */
  async start(): Promise<void> {
    const worker = await (await poolFor(this.options)).acquire();
    const ended = worker.ended;
    if (ended) {
      await worker.release(false);
      throw new Error(
        `seedfork: Vitest's worker in sandbox ${worker.lease.sandbox.id} ${ended} before its test file started (its output is above)`,
      );
    }
    this.worker = worker;
    this.attach(worker.child, async (code) => {
      // a sandbox limit or a kill from outside: say so before Vitest reports the worker's exit
      if (code !== 0 && this.worker === worker) {
        const { limit, died } = await worker.lease.sandbox.incidents();
        const why = died ?? limit?.message;
        if (why) this.options.project.vitest.logger.errorStream.write(`seedfork: ${why}\n`);
      }
    });
  }

  /** Stop the worker and kill its sandbox. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await this.detach();
    await worker?.release(false);
  }
}
