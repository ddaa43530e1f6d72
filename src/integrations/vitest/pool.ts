import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import type { Lease, TestEnvironment } from '../../run/environment.js';
import { openProjectEnvironment } from '../project-environment.js';

/** What seedfork reads of Vitest 4's pool options (`PoolOptions` in vitest/node). */
export interface VitestPoolOptions {
  /** Vitest's dist directory: its forks worker is `workers/forks.js` there. */
  distPath: string;
  project: {
    config: { root: string };
    vitest: { logger: { outputStream: NodeJS.WritableStream; errorStream: NodeJS.WritableStream } };
  };
  env: Partial<NodeJS.ProcessEnv>;
  execArgv: string[];
}

/** Vitest 4's `PoolRunnerInitializer`: what config `test.pool` takes. */
export interface VitestPoolRunner {
  readonly name: string;
  createPoolWorker(options: VitestPoolOptions): SandboxPoolWorker;
}

/** The relay started in each sandbox (relay.cts, compiled beside this file). */
const RELAY = fileURLToPath(new URL('./relay.cjs', import.meta.url));

/** One environment (seeded snapshot) per project root and Vitest process, opened on first use. */
const environments = new Map<string, Promise<TestEnvironment>>();

function environmentFor(root: string): Promise<TestEnvironment> {
  let env = environments.get(root);
  if (!env) {
    env = openProjectEnvironment(root).then((project) => project.environment);
    environments.set(root, env);
  }
  return env;
}

/**
 * A Vitest pool (Vitest 4's custom pool runner, https://vitest.dev/advanced/pool) that runs
 * every test file in a seedfork sandbox of its own, forked from the snapshot of the project's
 * seedfork.config with its services running. Vitest stays as it is: its CLI, watch mode,
 * reporters and config. In each sandbox only Vitest's own forks worker starts (through
 * relay.cts, which carries its IPC channel over stdin and stdout). Inside a seedfork sandbox
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
 * Vitest's `PoolWorker` over a sandbox: `start` takes a fresh sandbox and starts the worker in
 * it, `stop` kills the sandbox. Never reused: one sandbox per task (file), as `isolate` asks.
 */
export class SandboxPoolWorker {
  readonly name = 'seedfork';
  /** Vitest's main process would hand transformed modules over as files in its /tmp, which a
   * sandbox's private /tmp does not show: they come over the channel instead. */
  readonly cacheFs = false;
  private readonly events = new EventEmitter();
  private lease: Lease | undefined;
  private child: ChildProcess | undefined;
  private pending = Buffer.alloc(0);

  constructor(private readonly options: VitestPoolOptions) {}

  on(event: string, callback: (arg: unknown) => void): void {
    this.events.on(event, callback);
  }

  off(event: string, callback: (arg: unknown) => void): void {
    this.events.off(event, callback);
  }

  /** Send a message to the worker: framed v8 serialization over its stdin. */
  send(message: unknown): void {
    const payload = serialize(message);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(payload.length);
    this.child?.stdin?.write(Buffer.concat([head, payload]));
  }

  deserialize(data: unknown): unknown {
    return data;
  }

  /**
   * Fork a sandbox and start Vitest's forks worker in it.
   * @throws SeedforkError when seedfork's config is missing or invalid, or seeding fails
   */
  async start(): Promise<void> {
    const environment = await environmentFor(this.options.project.config.root);
    const lease = await environment.acquire();
    this.lease = lease;
    const entrypoint = join(this.options.distPath, 'workers/forks.js');
    const child = lease.sandbox.spawn(
      [process.execPath, RELAY, entrypoint, JSON.stringify(this.options.execArgv)],
      {
        cwd: this.options.project.config.root,
        env: { ...lease.env, ...(this.options.env as Record<string, string>), SEEDFORK_ATTEMPT: '1' },
      },
    );
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.receive(chunk));
    child.stderr?.pipe(this.options.project.vitest.logger.errorStream, { end: false });
    child.on('error', (error) => this.events.emit('error', error));
    child.on('exit', (code) => this.events.emit('exit', code));
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
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.stdin?.end();
      await Promise.race([exited, new Promise((done) => setTimeout(done, 1000))]);
    }
    this.child = undefined;
    await this.lease?.release(false);
    this.lease = undefined;
  }

  /** A sandbox is never reused: each task gets a fresh one. */
  canReuse(): boolean {
    return false;
  }
}
