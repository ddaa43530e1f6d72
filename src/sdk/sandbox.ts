import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { Sandbox as BackendSandbox, Snapshot as BackendSnapshot } from '../sandbox/types.js';
import { sandboxServiceRoot } from '../seed/seed.js';
import {
  prepareServicesForSnapshot,
  type StartedServices,
  startServices,
  stopServices,
  tidyStoppedServices,
} from '../seed/services/index.js';
import { type SandboxOptions, type SdkContext, sdkContext } from './context.js';
import { type CommandOptions, type CommandResult, runCommand } from './exec.js';
import { reserveMemory } from './memory-budget.js';
import { Snapshot } from './snapshot.js';

/** Options of `snapshot.fork()`. */
export interface ForkOptions {
  /** Aborting stops the services' start (the fork is killed). */
  signal?: AbortSignal;
  /** When the memory budget is taken, wait for a live sandbox to be killed instead of
   * failing (first come, first served). Default false. */
  wait?: boolean;
}

/** How the base sandbox hands itself to the snapshot being built, and is told to freeze. */
interface BaseBuild {
  /** Resolve to freeze: the backend then kills the seed sandbox and keeps its state. */
  freeze: (go: boolean) => void;
  /** The backend's createSnapshot, resolving once frozen. */
  built: Promise<BackendSnapshot>;
}

/** The SDK's sandboxes of this process that are live (neither killed nor kept): close() kills them. */
const liveSandboxes = new Set<Sandbox>();

/**
 * Kill every sandbox of this process that is still live (not killed, not kept), at once.
 * @internal close()'s first step
 * @throws AggregateError of the kills that failed (all are tried)
 */
export async function killLiveSandboxes(): Promise<void> {
  const results = await Promise.allSettled([...liveSandboxes].map((sandbox) => sandbox.kill()));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length > 0) throw new AggregateError(failed, `${failed.length} sandbox(es) could not be killed`);
}

/**
 * A sandbox of the SDK: a running isolated environment (own filesystem view, network
 * namespace and ports, processes; the services declared) on either backend.
 *
 *     await using base = await Sandbox.create({ services: { postgres: { port: 5432, database: 'app' } } });
 *     await base.exec('npm run db:migrate');
 *     const snap = await base.snapshot();
 *     await using sandbox = await snap.fork();
 *     const { exitCode, stdout } = await sandbox.exec(['node', '--test', 'test/a.test.js']);
 *
 * A base sandbox (`Sandbox.create`) is the one a snapshot is taken of; forks (`snapshot.fork()`)
 * are the per-test ones. `kill()` ends every process in it and releases every resource;
 * `await using` kills it when the scope ends (unless it was kept).
 */
export class Sandbox implements AsyncDisposable {
  private inner: BackendSandbox | undefined;
  private running = 0;
  private state: 'live' | 'kept' | 'killed' = 'live';
  private taken: Snapshot | undefined;
  private readonly forwards = new Map<number, Promise<number>>();
  private servers: Server[] = [];
  private readonly connections = new Set<Socket>();

  private constructor(
    private readonly context: SdkContext,
    inner: BackendSandbox,
    private services: StartedServices,
    private readonly release: () => void,
    /** The snapshot it was forked from, or the one it will become (a base). */
    private readonly snapshotKey: string,
    private readonly base?: BaseBuild & { key: string },
  ) {
    this.inner = inner;
    liveSandboxes.add(this);
  }

  /**
   * Start a base sandbox over the bare host (the project directory seen copy-on-write), with
   * `options.services` created and started (PostgreSQL: initdb, then the database), ready for
   * the commands that install, migrate and seed. `key` names the snapshot `snapshot()` will
   * make (the cache key: a hash of the lockfile and the migrations, say); default a random one.
   * @throws SeedforkError on invalid options, a backend that cannot run here, a service that
   *   does not start, or a `key` whose snapshot exists already (open it with Snapshot.open)
   */
  static async create(options: SandboxOptions & { key?: string; wait?: boolean } = {}): Promise<Sandbox> {
    const context = await sdkContext(options);
    const key = options.key ?? `sdk-${randomBytes(8).toString('hex')}`;
    if (!/^[\w-]{1,100}$/.test(key))
      throw new SeedforkError(
        `key "${key}" is not a snapshot key: use letters, digits, - and _ (a hex hash)`,
      );
    if (await context.backend.openSnapshot(key))
      throw new SeedforkError(`a snapshot with key ${key} exists already`, {
        hint: 'Open it with Snapshot.open({ key }) (Snapshot.cached does both), or delete it first.',
      });
    const release = await reserveMemory(context.reserveBytes, context.budgetBytes, { wait: options.wait });
    let freeze: (go: boolean) => void = () => {};
    const frozen = new Promise<boolean>((resolve) => {
      freeze = resolve;
    });
    let seeded: (base: { sandbox: BackendSandbox; services: StartedServices }) => void = () => {};
    let failed: (error: unknown) => void = () => {};
    const ready = new Promise<{ sandbox: BackendSandbox; services: StartedServices }>((resolve, reject) => {
      seeded = resolve;
      failed = reject;
    });
    const built = context.backend.createSnapshot({
      key,
      shareNetwork: context.loaded.config.seed.network === 'host',
      build: async (sandbox) => {
        const services = await startServices({
          sandbox,
          services: context.loaded.config.seed.services,
          phase: 'seed',
          dataRoot: sandboxServiceRoot(),
          env: context.baseEnv,
          cwd: context.loaded.root,
        });
        seeded({ sandbox, services });
        if (!(await frozen)) {
          await stopServices(services.running);
          throw new SeedforkError('the base sandbox was killed before its snapshot was taken');
        }
      },
    });
    built.then(
      () => failed(new SeedforkError(`the snapshot ${key} was made without this base sandbox`)),
      failed,
    );
    try {
      const { sandbox, services } = await ready;
      return new Sandbox(context, sandbox, services, release, key, { key, freeze, built });
    } catch (error) {
      release();
      throw error;
    }
  }

  /** @internal a fork of `snapshot` with its services up (Snapshot.fork). */
  static async fork(
    context: SdkContext,
    snapshot: BackendSnapshot,
    options: ForkOptions = {},
  ): Promise<Sandbox> {
    const release = await reserveMemory(context.reserveBytes, context.budgetBytes, { wait: options.wait });
    let inner: BackendSandbox | undefined;
    try {
      inner = await context.backend.fork(snapshot, { limits: context.limits });
      const services = await startServices({
        sandbox: inner,
        services: context.loaded.config.seed.services,
        phase: context.backend.forksKeepProcesses ? 'resume' : 'fork',
        dataRoot: sandboxServiceRoot(),
        env: context.baseEnv,
        cwd: context.loaded.root,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return new Sandbox(context, inner, services, release, snapshot.key);
    } catch (error) {
      await inner?.kill();
      release();
      throw error;
    }
  }

  /** `live`, `kept` (left running for `seedfork shell`) or `killed`. */
  get status(): 'live' | 'kept' | 'killed' {
    return this.state;
  }

  /** Short unique id (`seedfork shell <id>` enters a kept one). */
  get id(): string {
    return this.live().id;
  }

  /** The backend's name: `namespace` or `microvm`. */
  get backend(): string {
    return this.context.backend.name;
  }

  /** The environment commands get: the host's (filtered), `env`, and what services export
   * (DATABASE_URL, PGHOST, REDIS_URL…). */
  get env(): Record<string, string> {
    return {
      ...this.context.baseEnv,
      ...this.services.env,
      SEEDFORK_SANDBOX_ID: this.live().id,
      // testDatabase() (seedfork/pg) names its template by it, and finds the databases cloned at seed time
      SEEDFORK_SNAPSHOT_KEY: this.snapshotKey,
    };
  }

  /** Each service's connection URL as commands inside the sandbox reach it, by name. */
  get urls(): Record<string, string> {
    return { ...this.services.urls };
  }

  /**
   * Run a command to completion: `argv`, or a string run by `sh -c`. Its working directory is
   * the project's (`cwd` to change it).
   * @returns exit code (124 when `timeoutMs` passed), stdout and stderr apart, time in ms, and
   *   the sandbox limit that stopped it, if one did
   * @throws SeedforkError when the sandbox was killed
   */
  async exec(command: string | string[], options: CommandOptions = {}): Promise<CommandResult> {
    const sandbox = this.live();
    const argv = typeof command === 'string' ? ['sh', '-c', command] : command;
    if (argv.length === 0) throw new SeedforkError('exec needs a command');
    this.running++;
    try {
      return await runCommand(sandbox, argv, {
        ...options,
        cwd: options.cwd ?? this.context.loaded.root,
        env: { ...this.env, ...options.env },
        ...(this.context.limits.outputBytes ? { maxOutputBytes: this.context.limits.outputBytes } : {}),
      });
    } finally {
      this.running--;
    }
  }

  /** A file of the sandbox (relative paths: to the project directory), or undefined when
   * there is none. @throws FileTooLargeError over `maxBytes` */
  async readFile(path: string, options: { maxBytes?: number } = {}): Promise<Buffer | undefined> {
    return this.live().readFile(this.path(path), options);
  }

  /** Write a file into the sandbox (its directory must exist); the host's stays as it was. */
  async writeFile(path: string, data: string | Buffer): Promise<void> {
    return this.live().writeFile(this.path(path), data);
  }

  /**
   * A connection from this process to `127.0.0.1:<port>` inside the sandbox (its own network
   * namespace: no host address reaches it).
   * @throws SeedforkError on the microvm backend (not yet: exec a client inside it), after kill
   */
  async connect(port: number): Promise<Socket> {
    return this.connector()(port);
  }

  /**
   * A URL on this host that reaches `port` inside the sandbox: `http://127.0.0.1:<host port>`
   * (a forwarding listener, closed when the sandbox is killed). For an app a test started in
   * the sandbox, or a service: `url(5432, 'postgresql')`; see serviceUrl.
   * @throws SeedforkError as connect
   */
  async url(port: number, scheme = 'http'): Promise<string> {
    return `${scheme}://127.0.0.1:${await this.forward(port)}`;
  }

  /**
   * Service `name`'s connection URL (`urls[name]`, e.g. postgresql://postgres@127.0.0.1:5432/app)
   * with its address replaced by a forward from this host, for a client in the test process.
   * @throws SeedforkError when there is no such service with a URL, or as connect
   */
  async serviceUrl(name: string): Promise<string> {
    const inside = this.services.urls[name];
    if (!inside)
      throw new SeedforkError(
        `no service ${name} with a URL: the sandbox has ${Object.keys(this.services.urls).join(', ') || 'none'}`,
      );
    const url = new URL(inside);
    url.port = String(await this.forward(Number(url.port)));
    url.hostname = '127.0.0.1';
    return url.toString();
  }

  /**
   * Freeze this base sandbox into a snapshot to fork from. The namespace backend stops the
   * services cleanly first (a fork starts them again from their data); a microvm snapshot
   * saves the guest running, services and all. This sandbox then goes on from the snapshot's
   * state, as a fork of it (a new `id`). A PostgreSQL service whose options name a `pool`
   * first clones that many test databases (precloneTestDatabases), frozen with the snapshot.
   * @throws SeedforkError on a fork (only a base sandbox is snapshotted), while a command runs,
   *   after kill, when the pool's databases cannot be cloned (a connection to the database is
   *   still open), or when freezing fails
   */
  async snapshot(): Promise<Snapshot> {
    const base = this.base;
    if (!base)
      throw new SeedforkError('snapshot() takes a base sandbox (Sandbox.create), not a fork', {
        hint: 'Seed a base sandbox with the commands this fork ran, and snapshot that.',
      });
    if (this.taken) return this.taken;
    this.live();
    if (this.running > 0)
      throw new SeedforkError(
        `${this.running} command(s) still run in the sandbox: await them before snapshot()`,
      );
    this.closeForwards();
    const { services } = this.context.loaded.config.seed;
    if (this.context.precloned.length > 0)
      await prepareServicesForSnapshot({
        sandbox: this.inner!,
        services: Object.fromEntries(this.context.precloned.map((name) => [name, services[name]!])),
        dataRoot: sandboxServiceRoot(),
        env: this.env,
        snapshotKey: this.snapshotKey,
      });
    if (!this.context.backend.forksKeepProcesses) {
      await stopServices(this.services.running);
      await tidyStoppedServices({
        sandbox: this.inner!,
        services: this.context.loaded.config.seed.services,
        dataRoot: sandboxServiceRoot(),
      });
    }
    base.freeze(true);
    const frozen = await base.built;
    const snapshot = new Snapshot(this.context, frozen);
    this.taken = snapshot;
    // go on as a fork of what was frozen: same handle, same reservation
    const next = await Sandbox.fork(this.context, frozen).catch((error) => {
      this.state = 'killed';
      this.release();
      throw error;
    });
    next.release();
    this.inner = next.inner;
    this.services = next.services;
    return snapshot;
  }

  /**
   * Leave the sandbox running after this process exits, to look into: `seedfork shell <id>`
   * enters it with the commands' environment. A base sandbox is not kept (snapshot it instead).
   * @returns the command that enters it
   */
  async keep(): Promise<string> {
    if (this.base && !this.taken)
      throw new SeedforkError('a base sandbox becomes its snapshot and is not kept: keep a fork');
    const sandbox = this.live();
    await sandbox.keep({ cwd: this.context.loaded.root, env: this.env });
    this.closeForwards();
    this.state = 'kept';
    liveSandboxes.delete(this);
    this.release();
    return `npx seedfork shell ${sandbox.id}`;
  }

  /** End every process in the sandbox and release everything it held. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.state !== 'live') return;
    this.state = 'killed';
    liveSandboxes.delete(this);
    this.closeForwards();
    const inner = this.inner;
    this.inner = undefined;
    try {
      if (this.base && !this.taken) {
        this.base.freeze(false); // the backend stops the services, kills the seed sandbox and drops its state
        await this.base.built.catch(() => {});
      } else await inner?.kill();
    } finally {
      this.release();
    }
  }

  /** `await using` kills the sandbox when the scope ends, unless it was kept. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }

  /** How this host connects to a port in the sandbox. @throws SeedforkError where it cannot */
  private connector(): (port: number) => Promise<Socket> {
    const sandbox = this.live();
    if (!sandbox.connect)
      throw new SeedforkError(
        `the ${this.backend} backend cannot reach a port in its sandbox from the host yet: run the client inside it (exec)`,
      );
    return (port) => sandbox.connect!(port);
  }

  /** The host port of a listener that joins each connection to `port` in the sandbox. */
  private async forward(port: number): Promise<number> {
    let forward = this.forwards.get(port);
    if (!forward) {
      this.connector();
      const server = createServer((client) => {
        this.connections.add(client);
        client.once('close', () => this.connections.delete(client));
        client.on('error', () => {});
        this.connect(port).then(
          (target) => {
            target.on('error', () => client.destroy());
            client.on('error', () => target.destroy());
            client.pipe(target).pipe(client);
          },
          () => client.destroy(),
        );
      });
      forward = new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
      });
      this.servers.push(server);
      this.forwards.set(port, forward);
    }
    return forward;
  }

  private closeForwards(): void {
    for (const server of this.servers) server.close();
    for (const connection of this.connections) connection.destroy();
    this.servers = [];
    this.forwards.clear();
  }

  private live(): BackendSandbox {
    if (this.state !== 'live' || !this.inner)
      throw new SeedforkError(
        `the sandbox was ${this.state === 'kept' ? 'kept' : 'killed'}: it takes no more commands`,
      );
    return this.inner;
  }

  private path(path: string): string {
    return isAbsolute(path) ? path : join(this.context.loaded.root, path);
  }
}
