import { homedir } from 'node:os';
import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { Backend, Sandbox, Snapshot } from '../sandbox/types.js';
import { type SeedCacheKey, seedCacheKey } from './cache-key.js';
import {
  prepareServicesForSnapshot,
  type StartedServices,
  startServices,
  stopServices,
  tidyStoppedServices,
} from './services/index.js';

/**
 * Where service data lives inside a namespace sandbox (and so inside the snapshot). Rootless
 * sandboxes can only create files below directories the user owns, so theirs is under $HOME.
 */
export function sandboxServiceRoot(): string {
  return process.getuid?.() === 0
    ? '/var/lib/seedfork/services'
    : join(homedir(), '.cache', 'seedfork-services');
}

/** Progress messages of seeding, for the console reporter. */
export type SeedEvent =
  | { type: 'cached'; key: string; createdAt: string }
  /** What the backend says before the seed: something slow is built (a microvm guest's root
   * filesystem), or how guests run (the accelerator). */
  | { type: 'backend'; message: string }
  | { type: 'building'; key: string }
  | { type: 'step'; index: number; total: number; step: string }
  | { type: 'built'; key: string; durationMs: number };

/**
 * Start the declared services (seed phase: initdb etc.), then run `seed.steps` in order.
 * @returns the services, still running, and the environment they export.
 * @throws SeedforkError naming the failed step, with its output in `details`.
 */
export async function runSeed(
  sandbox: Sandbox,
  loaded: LoadedConfig,
  options: {
    dataRoot: string;
    env: Record<string, string>;
    onEvent?: (e: SeedEvent) => void;
    signal?: AbortSignal;
  },
): Promise<StartedServices> {
  const { config, root } = loaded;
  const services = await startServices({
    sandbox,
    services: config.seed.services,
    phase: 'seed',
    dataRoot: options.dataRoot,
    env: options.env,
    cwd: root,
    signal: options.signal,
  });
  try {
    const steps = config.seed.steps;
    for (const [index, step] of steps.entries()) {
      options.onEvent?.({ type: 'step', index, total: steps.length, step });
      const result = await sandbox.exec(['sh', '-c', step], {
        cwd: root,
        env: { ...options.env, ...services.env },
        timeoutMs: config.seed.stepTimeoutMs,
        signal: options.signal,
      });
      if (result.exitCode !== 0) {
        throw new SeedforkError(
          `seed step ${index + 1}/${steps.length} failed: \`${step}\` ${result.timedOut ? `timed out after ${config.seed.stepTimeoutMs} ms` : `exited with ${result.exitCode}`}`,
          {
            details: result.output.trimEnd().split('\n').slice(-40).join('\n') || '(no output)',
            hint: 'Fix the step (its output is above) and run again; nothing was cached.',
          },
        );
      }
    }
  } catch (error) {
    await stopServices(services.running);
    throw error;
  }
  return services;
}

/**
 * The seeded snapshot for this config: reused from the cache when the key (seed inputs, steps,
 * services) is unchanged, else built in a seed sandbox whose services are stopped cleanly
 * before the snapshot is frozen.
 */
export async function prepareSnapshot(
  backend: Backend,
  loaded: LoadedConfig,
  options: {
    env: Record<string, string>;
    onEvent?: (e: SeedEvent) => void;
    signal?: AbortSignal;
    /** The config's key when the caller computed it already (it hashes every seed input). */
    seedKey?: SeedCacheKey;
  },
): Promise<{ snapshot: Snapshot; cached: boolean; key: string }> {
  const { key, services: toSeed } = options.seedKey ?? seedCacheKey(loaded.config, loaded.root);
  const existing = await backend.openSnapshot(key);
  if (existing) {
    options.onEvent?.({ type: 'cached', key, createdAt: existing.createdAt });
    return { snapshot: existing, cached: true, key };
  }
  options.onEvent?.({ type: 'building', key });
  const started = performance.now();
  let built = false;
  const snapshot = await backend.createSnapshot({
    key,
    shareNetwork: loaded.config.seed.network === 'host',
    build: async (sandbox) => {
      const services = await runSeed(sandbox, loaded, { ...options, dataRoot: sandboxServiceRoot() });
      try {
        await prepareServicesForSnapshot({
          sandbox,
          services: toSeed,
          dataRoot: sandboxServiceRoot(),
          env: { ...options.env, ...services.env },
          snapshotKey: key,
        });
      } catch (error) {
        await stopServices(services.running);
        throw error;
      }
      // a snapshot of files needs them stopped cleanly; a running guest's keeps them running
      if (!backend.forksKeepProcesses) {
        await stopServices(services.running);
        await tidyStoppedServices({
          sandbox,
          services: loaded.config.seed.services,
          dataRoot: sandboxServiceRoot(),
        });
      }
      built = true;
    },
  });
  if (built) options.onEvent?.({ type: 'built', key, durationMs: performance.now() - started });
  else options.onEvent?.({ type: 'cached', key, createdAt: snapshot.createdAt });
  return { snapshot, cached: !built, key };
}
