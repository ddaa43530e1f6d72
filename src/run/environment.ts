import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyEnv } from '../config/env.js';
import type { LoadedConfig } from '../config/load.js';
import { type Config, serviceKind } from '../config/schema.js';
import { parseSize } from '../config/size.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { explainDiskFull } from '../fs/disk-full.js';
import { holdLockFile } from '../locks/lock-file.js';
import { filterHostEnv } from '../sandbox/host-env.js';
import {
  type Backend,
  type BackendName,
  backendFor,
  DEFAULT_LIMITS,
  type MicrovmOptions,
} from '../sandbox/index.js';
import { NoneSandbox } from '../sandbox/none/none-sandbox.js';
import type { GcOptions, ResourceLimits, Sandbox } from '../sandbox/types.js';
import { type SeedCacheKey, seedCacheKey } from '../seed/cache-key.js';
import { prepareSnapshot, runSeed, type SeedEvent, sandboxServiceRoot } from '../seed/seed.js';
import { type RunningService, startServices, stopServices } from '../seed/services/index.js';
import { WarmPool } from './warm-pool.js';

/** A sandbox handed to one worker, with the services' environment. */
export interface Lease {
  sandbox: Sandbox;
  /** Environment for test commands: the base environment plus what the services export, then
   * `test.env` (whose `false` entries remove variables). */
  env: Record<string, string>;
  /** Connection URL of each service that has one (postgres), by service name. */
  serviceUrls: Record<string, string>;
  /** Directory (inside the sandbox) where runners write JUnit XML. */
  junitDir: string;
  /** Time the worker waited for this sandbox, in ms: the fork and the services' start, or
   * next to nothing when the warm pool had it ready. */
  setupMs: number;
  /** Time it took to fork this sandbox and bring its services up, in ms (ahead of need when
   * the warm pool prepared it). */
  prepareMs: number;
  /** Give the sandbox back: kill it, or keep it alive when `keep`. Returns whether it was kept. */
  release(keep: boolean): Promise<boolean>;
}

/** Where test files run (config `isolation`): forks made by the backend of that name, or the shared host. */
export type Isolation = BackendName | 'none';

/** Where test files run: forks of a seeded snapshot, or the shared host. */
export interface TestEnvironment {
  readonly isolation: Isolation;
  readonly snapshot?: { key: string; cached: boolean };
  /** Host directories of the snapshot's layers, top-most first (the host root is below them). */
  readonly layers?: string[];
  acquire(signal?: AbortSignal): Promise<Lease>;
  /**
   * Say that `count` more acquires will come, from `workers` workers at once: the environment
   * may prepare sandboxes ahead of them (the warm pool). Optional; without it every acquire
   * prepares its own.
   */
  expect?(count: number, workers: number): void;
  /** Kill every sandbox still held and stop shared services. Never throws. */
  close(): Promise<void>;
}

/** What every environment needs: the config, the base environment, progress and cancellation. */
export interface EnvironmentOptions {
  loaded: LoadedConfig;
  baseEnv: Record<string, string>;
  onSeedEvent?: (e: SeedEvent) => void;
  signal?: AbortSignal;
  /** Called with each sandbox's lease as it is made ready, before it is handed out: the
   * runner's workers start theirs in it ahead of need (FileWorkers.prepare). Must not throw. */
  onLeaseReady?: (lease: Lease) => void;
  /** The config's snapshot key when the caller computed it already (it hashes every seed input). */
  seedKey?: SeedCacheKey;
}

/**
 * The environment of seed steps, services and tests before services add theirs: the host's
 * variables that `sandbox.env` lets through (secret-looking names and seedfork's credentials
 * withheld: filterHostEnv), then `test.env` (a `false` entry removes a variable) and
 * `SEEDFORK=1`; with the names withheld, for the run to say once (withheldNotice).
 */
export function baseEnvironment(
  config: Config,
  host: Record<string, string | undefined> = process.env,
): { env: Record<string, string>; withheld: string[] } {
  const { env, withheld } = filterHostEnv(host, config.sandbox.env);
  return { env: { ...applyEnv(env, config.test.env), SEEDFORK: '1' }, withheld };
}

/**
 * What `gc` may remove for this config: snapshots beyond `gc.snapshotBudget`, never the one the
 * config's seed maps to.
 * @param key that snapshot's key, when the caller computed it already (else computed here)
 */
export function gcOptions(loaded: LoadedConfig, key?: string): GcOptions {
  const budget = loaded.config.gc.snapshotBudget;
  if (budget === false) return {};
  return {
    snapshotBudgetBytes: parseSize(budget),
    keepSnapshots: [key ?? seedCacheKey(loaded.config, loaded.root).key],
  };
}

/**
 * A sandbox's limits from config `limits`: DEFAULT_LIMITS where a key is left out, none where
 * it is `false`.
 * @throws SeedforkError on a size that does not parse.
 */
export function sandboxLimits(config: Config): ResourceLimits {
  const { memory, pids, disk, output } = config.limits;
  const pick = <T>(value: T | false | undefined, fallback: number | undefined, parse: (v: T) => number) =>
    value === false ? undefined : value === undefined ? fallback : parse(value);
  return {
    memoryBytes: pick(memory, DEFAULT_LIMITS.memoryBytes, parseSize),
    pids: pick(pids, DEFAULT_LIMITS.pids, (n) => n),
    diskBytes: pick(disk, DEFAULT_LIMITS.diskBytes, parseSize),
    outputBytes: pick(output, DEFAULT_LIMITS.outputBytes, parseSize),
  };
}

/**
 * Seed once (or reuse the cached snapshot), then fork a sandbox per lease with the services
 * started again from the seeded data, or, where forks keep the seed's processes (microvm),
 * resumed as the snapshot holds them.
 */
export async function sandboxEnvironment(
  backend: Backend,
  options: EnvironmentOptions,
): Promise<TestEnvironment> {
  const { loaded, baseEnv } = options;
  const { snapshot, cached, key } = await prepareSnapshot(backend, loaded, {
    env: baseEnv,
    onEvent: options.onSeedEvent,
    signal: options.signal,
    seedKey: options.seedKey,
  });
  const limits = sandboxLimits(loaded.config);
  const live = new Set<Sandbox>();
  /** Fork a sandbox and bring its services up: a lease nobody has used yet. */
  const prepare = async (signal?: AbortSignal): Promise<Lease> => {
    const started = performance.now();
    const sandbox = await backend.fork(snapshot, { limits });
    live.add(sandbox);
    try {
      const services = await startServices({
        sandbox,
        services: loaded.config.seed.services,
        phase: backend.forksKeepProcesses ? 'resume' : 'fork',
        dataRoot: sandboxServiceRoot(),
        env: baseEnv,
        cwd: loaded.root,
        signal,
      });
      const junitDir = '/tmp/.seedfork-junit';
      await sandbox.makeDir(junitDir);
      const prepareMs = performance.now() - started;
      const lease: Lease = {
        sandbox,
        env: applyEnv(
          { ...baseEnv, ...services.env, SEEDFORK_SANDBOX_ID: sandbox.id, SEEDFORK_SNAPSHOT_KEY: key },
          loaded.config.test.env,
        ),
        serviceUrls: services.urls,
        junitDir,
        setupMs: prepareMs,
        prepareMs,
        async release(keep) {
          live.delete(sandbox);
          if (keep) {
            await sandbox.keep({ cwd: loaded.root, env: lease.env });
            return true;
          }
          await sandbox.kill();
          return false;
        },
      };
      options.onLeaseReady?.(lease);
      return lease;
    } catch (error) {
      live.delete(sandbox);
      await sandbox.kill();
      throw error;
    }
  };
  let pool: WarmPool<Lease> | undefined;
  return {
    isolation: backend.name as BackendName,
    snapshot: { key, cached },
    layers: snapshot.layers,
    expect(count, workers) {
      pool ??= new WarmPool(() => prepare(options.signal), warmPoolSize(workers));
      pool.expect(count);
    },
    async acquire(signal) {
      if (!pool) return prepare(signal);
      const started = performance.now();
      const lease = await pool.acquire();
      lease.setupMs = performance.now() - started;
      return lease;
    },
    async close() {
      await pool?.close();
      await Promise.all([...live].map((s) => s.kill().catch(() => {})));
      live.clear();
    },
  };
}

/**
 * How far ahead the warm pool prepares for `workers` workers: up to half as many sandboxes
 * as workers waiting (at least one, at most 4), prepared one at a time (two from 8 workers
 * up), so preparing takes at most one core from the tests. A fork with PostgreSQL ready takes
 * 35-50 ms here (bench/fork.ts), so one preparer keeps up with files of a few hundred ms.
 */
export function warmPoolSize(workers: number): { ahead: number; parallel: number } {
  return { ahead: Math.min(4, Math.max(1, Math.ceil(workers / 2))), parallel: workers >= 8 ? 2 : 1 };
}

/**
 * No isolation: the seed runs once on the host, its services stay up, and every test file
 * shares the host and those services. The baseline that shows what sharing costs.
 */
export async function noneEnvironment(
  stateDir: string,
  options: EnvironmentOptions,
): Promise<TestEnvironment> {
  const shared = join(stateDir, 'shared');
  mkdirSync(stateDir, { recursive: true });
  // one run at a time on the shared host: a second one would kill the first's process groups
  // and services as leftovers
  const unlock = await holdLockFile(`${shared}.lock`, {
    waitMs: 0,
    inUse: (holder) =>
      `another seedfork run with isolation none (process ${holder}) is using this project's shared host (${shared}); wait for it to finish, or use isolation namespace, where every run has sandboxes of its own`,
  });
  let host: NoneSandbox | undefined;
  let running: RunningService[] = [];
  try {
    killLeftoverGroups(shared);
    rmSync(shared, { recursive: true, force: true });
    rmSync(sharedServiceRoot(stateDir), { recursive: true, force: true });
    mkdirSync(shared, { recursive: true });
    host = new NoneSandbox('host', join(shared, 'logs'), join(shared, 'groups'));
    const sandbox = host;
    const seeded = await runSeed(sandbox, options.loaded, {
      dataRoot: sharedServiceRoot(stateDir),
      env: options.baseEnv,
      onEvent: options.onSeedEvent,
      signal: options.signal,
    });
    running = seeded.running;
    const env = applyEnv({ ...options.baseEnv, ...seeded.env }, options.loaded.config.test.env);
    const junitDir = join(shared, 'junit');
    mkdirSync(junitDir, { recursive: true });
    return {
      isolation: 'none',
      acquire: async () => ({
        sandbox,
        env,
        serviceUrls: seeded.urls,
        junitDir,
        setupMs: 0,
        prepareMs: 0,
        release: async () => false,
      }),
      async close() {
        try {
          await stopServices(running);
          await sandbox.kill();
        } finally {
          unlock();
        }
      },
    };
  } catch (error) {
    try {
      await stopServices(running);
      await host?.kill();
    } finally {
      unlock();
    }
    throw error;
  }
}

/** Kill process groups a crashed `--isolation none` run left (recorded in `<shared>/groups`). */
function killLeftoverGroups(shared: string): void {
  const file = join(shared, 'groups');
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const pgid = Number(line);
    if (!pgid) continue;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/**
 * Service data of `--isolation none` runs. Not under the project: services such as PostgreSQL
 * run as their own system user, who may not be able to enter the project's parent directories
 * (a checkout under /root). One directory per state directory, under the system temp dir.
 */
function sharedServiceRoot(stateDir: string): string {
  return join(
    tmpdir(),
    `seedfork-services-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`,
  );
}

/**
 * The guests of the microvm backend from config `microvm`, with the Debian packages the
 * declared services need in the guest (PostgreSQL is in every guest).
 * @throws SeedforkError on a memory size that does not parse
 */
export function microvmOptions(config: Config): MicrovmOptions {
  const { memory, cpus, kernel, accel, packages } = config.microvm;
  const services = Object.values(config.seed.services).map(serviceKind);
  return {
    memoryMiB: Math.ceil(parseSize(memory) / 1024 ** 2),
    cpus,
    ...(kernel ? { kernel } : {}),
    accel,
    packages: [...packages, ...(services.includes('redis') ? ['redis-server'] : [])],
  };
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

/**
 * Where a run's files execute, by `isolation`: forks of the seeded snapshot made by the backend
 * of that name (after its preflight, and after reaping what crashed runs left: `onGc` gets how
 * many things were removed), or the shared host for `none`.
 * @throws SeedforkError when the backend cannot run here, or seeding fails.
 */
export async function openEnvironment(
  isolation: Isolation,
  stateDir: string,
  options: EnvironmentOptions & { onGc?: (removed: number) => void },
): Promise<TestEnvironment> {
  if (isolation === 'none') return noneEnvironment(stateDir, options);
  const { root } = options.loaded;
  assertVisibleInSandboxes(root);
  const backend = backendFor(isolation, stateDir, {
    ownDirs: [root],
    confinement: { allowSyscalls: options.loaded.config.sandbox.allowSyscalls },
    microvm: microvmOptions(options.loaded.config),
    onNotice: (message) => options.onSeedEvent?.({ type: 'backend', message }),
  });
  await backend.preflight();
  const seedKey = options.seedKey ?? seedCacheKey(options.loaded.config, root);
  const gc = await backend.gc(gcOptions(options.loaded, seedKey.key));
  const removed =
    gc.sandboxes.length + gc.cgroups.length + gc.snapshotsInProgress.length + gc.snapshots.length;
  if (removed > 0) options.onGc?.(removed);
  // Seeding and forking write under the state directory: when that fails for want of space,
  // say so (and how much is free) instead of blaming the step or service that hit it.
  const explain = (error: unknown) => {
    throw explainDiskFull(error, stateDir);
  };
  const environment = await sandboxEnvironment(backend, { ...options, seedKey }).catch(explain);
  const acquire = environment.acquire.bind(environment);
  environment.acquire = (signal) => acquire(signal).catch(explain);
  return environment;
}
