import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import type { Lease, TestEnvironment } from '../../run/environment.js';
import type { WarmPool } from '../../run/warm-pool.js';
import type { RunningTemplate } from '../../sandbox/index.js';
import { openProjectEnvironment } from '../project-environment.js';
import { StartedWorker, startedWorkerPool, startWorkerZygote } from '../started-workers.js';

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

/** Preloaded into a worker started afresh in a sandbox: its IPC channel over fd 3
 * (channel-preload.cts, compiled beside this file). */
const CHANNEL = fileURLToPath(new URL('./channel-preload.cjs', import.meta.url));
/** The worker zygote (zygote.cts): Vitest's worker loaded once on the host, forked into each
 * sandbox. */
const ZYGOTE = fileURLToPath(new URL('./zygote.cjs', import.meta.url));

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
  const key = JSON.stringify([options.env, options.execArgv]);
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

/**
 * Start the worker zygote of one pool: Vitest's forks worker loaded once on the host, forked into
 * each sandbox. Undefined where it cannot run (said once on stderr: workers start afresh) or
 * when SEEDFORK_ZYGOTE=0 asks for fresh workers.
 */
function startZygote(
  options: VitestPoolOptions,
  baseEnv: Record<string, string>,
): Promise<RunningTemplate | undefined> {
  return startWorkerZygote(
    [process.execPath, ...options.execArgv, ZYGOTE],
    {
      cwd: options.project.config.root,
      env: { ...baseEnv, ...(options.env as Record<string, string>) },
      input: JSON.stringify({ entrypoint: join(options.distPath, 'workers/forks.js') }),
    },
    (reason) => {
      if (!saidNoZygote) {
        options.project.vitest.logger.errorStream.write(
          `seedfork: Vitest workers start afresh in each sandbox (slower): ${reason}\n`,
        );
      }
      saidNoZygote = true;
    },
  );
}

/** Start Vitest's forks worker in a sandbox, its IPC channel on fd 3 (channel.cts): forked from
 * the zygote where there is one, else started afresh; it waits for Vitest's `start` message.
 * Its stdout and stderr go to Vitest's, as the forks pool's do. */
function startWorker(
  lease: Lease,
  options: VitestPoolOptions,
  zygote: RunningTemplate | undefined,
): StartedWorker {
  const entrypoint = join(options.distPath, 'workers/forks.js');
  const spawnOptions = {
    cwd: options.project.config.root,
    env: { ...lease.env, ...(options.env as Record<string, string>), SEEDFORK_ATTEMPT: '1' },
    channel: true,
  };
  const child =
    zygote && lease.sandbox.spawnFrom
      ? lease.sandbox.spawnFrom(zygote, spawnOptions)
      : lease.sandbox.spawn(
          [process.execPath, ...options.execArgv, '--require', CHANNEL, entrypoint],
          spawnOptions,
        );
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
export class SandboxPoolWorker {
  readonly name = 'seedfork';
  /** Vitest's main process would hand transformed modules over as files in its /tmp, which a
   * sandbox's private /tmp does not show: they come over the channel instead. */
  readonly cacheFs = false;
  private readonly events = new EventEmitter();
  private worker: StartedWorker | undefined;
  private pending = Buffer.alloc(0);

  constructor(private readonly options: VitestPoolOptions) {}

  on(event: string, callback: (arg: unknown) => void): void {
    this.events.on(event, callback);
  }

  off(event: string, callback: (arg: unknown) => void): void {
    this.events.off(event, callback);
  }

  /** Send a message to the worker: framed v8 serialization over its channel (fd 3). */
  send(message: unknown): void {
    const payload = serialize(message);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(payload.length);
    (this.worker?.child.stdio[3] as Writable | undefined)?.write(Buffer.concat([head, payload]));
  }

  deserialize(data: unknown): unknown {
    return data;
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
    const { child } = worker;
    (child.stdio[3] as Readable).on('data', (chunk: Buffer) => this.receive(chunk));
    child.on('error', (error) => this.events.emit('error', error));
    child.on('exit', async (code) => {
      // a sandbox limit or a kill from outside: say so before Vitest reports the worker's exit
      if (code !== 0 && this.worker === worker) {
        const { limit, died } = await worker.lease.sandbox.incidents();
        const why = died ?? limit?.message;
        if (why) this.options.project.vitest.logger.errorStream.write(`seedfork: ${why}\n`);
      }
      this.events.emit('exit', code);
    });
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32BE(0);
      if (this.pending.length < 4 + length) break;
      this.events.emit('message', deserialize(this.pending.subarray(4, 4 + length)));
      this.pending = this.pending.subarray(4 + length);
    }
  }

  /** Stop the worker and kill its sandbox. */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const { child } = worker;
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      (child.stdio[3] as Writable).end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((done) => (timer = setTimeout(done, 1000)))]);
      clearTimeout(timer); // a pending timer would hold Vitest's exit for a second
    }
    await worker.release(false);
  }

  /** A sandbox is never reused: each task gets a fresh one. */
  canReuse(): boolean {
    return false;
  }
}
