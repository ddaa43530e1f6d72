import { join } from 'node:path';
import { exportedEnv } from '../../config/env.js';
import {
  type CommandServiceConfig,
  type PostgresServiceConfig,
  type RedisServiceConfig,
  type ServiceConfig,
  serviceKind,
} from '../../config/schema.js';
import { serviceOrder } from '../../config/service-order.js';
import type { Sandbox } from '../../sandbox/types.js';
import { commandDriver } from './command.js';
import { postgresDriver, precloneTestDatabases, tidyDataDirectory } from './postgres.js';
import { redisDriver } from './redis.js';
import type { RunningService } from './types.js';

export type { RunningService } from './types.js';

/** Options for {@link startServices}. */
export interface StartServicesOptions {
  sandbox: Sandbox;
  services: Record<string, ServiceConfig>;
  /** `seed`: create data then start; `fork`: start from seeded data; `resume`: running
   * already (the fork kept the seed's processes). */
  phase: 'seed' | 'fork' | 'resume';
  /** Where service data lives, as a path inside the sandbox. */
  dataRoot: string;
  env: Record<string, string>;
  cwd: string;
  signal?: AbortSignal;
}

/** Services started by {@link startServices}. */
export interface StartedServices {
  running: RunningService[];
  /** What they export to seed steps and tests (after each service's `exports`). */
  env: Record<string, string>;
  /** Connection URL by service name, for services that have one. */
  urls: Record<string, string>;
}

/**
 * Start every declared service, each after those it `dependsOn` (else in declaration order),
 * and wait until each is ready.
 * On failure the ones already started are stopped before the error propagates.
 */
export async function startServices(options: StartServicesOptions): Promise<StartedServices> {
  const running: RunningService[] = [];
  const env: Record<string, string> = {};
  const urls: Record<string, string> = {};
  try {
    for (const name of serviceOrder(options.services)) {
      const config = options.services[name]!;
      const ctx = {
        name,
        sandbox: options.sandbox,
        dataDir: join(options.dataRoot, name),
        logFile: join(options.sandbox.logDir, `${name}.log`),
        env: { ...options.env, ...env },
        cwd: options.cwd,
        signal: options.signal,
      };
      const phase = options.phase === 'fork' ? 'start' : options.phase;
      const kind = serviceKind(config);
      const service =
        kind === 'command'
          ? await commandDriver[phase](ctx, config as CommandServiceConfig)
          : kind === 'redis'
            ? await redisDriver[phase](ctx, config as RedisServiceConfig)
            : await postgresDriver[phase](ctx, config as PostgresServiceConfig);
      running.push(service);
      Object.assign(env, exportedEnv(service.env, config.exports));
      if (service.url) urls[name] = service.url;
    }
  } catch (error) {
    await stopServices(running);
    throw error;
  }
  return { running, env, urls };
}

/** Stop services in reverse order. Never throws. */
export async function stopServices(running: RunningService[]): Promise<void> {
  for (const service of [...running].reverse()) {
    await service.stop().catch(() => {});
  }
}

/**
 * What the seed does for the snapshot once its steps have run, with the services still up:
 * each PostgreSQL service clones its `pool` of test databases (precloneTestDatabases).
 * @returns how many databases were cloned, by service
 * @throws SeedforkError as precloneTestDatabases
 */
export async function prepareServicesForSnapshot(options: {
  sandbox: Sandbox;
  services: Record<string, ServiceConfig>;
  dataRoot: string;
  /** The seed steps' environment (the services' variables included). */
  env: Record<string, string>;
  snapshotKey: string;
}): Promise<Record<string, number>> {
  const cloned: Record<string, number> = {};
  for (const name of serviceOrder(options.services)) {
    const config = options.services[name]!;
    if (serviceKind(config) !== 'postgres') continue;
    const ctx = { name, sandbox: options.sandbox, dataDir: join(options.dataRoot, name), env: options.env };
    cloned[name] = await precloneTestDatabases(ctx, config as PostgresServiceConfig, options.snapshotKey);
  }
  return cloned;
}

/**
 * What the seed does for a snapshot of files once its services stopped cleanly: each
 * PostgreSQL service's data directory is tidied (tidyDataDirectory), so that a fork's
 * start has none of the snapshot's relation cache init files to remove and does not list the
 * directories of the databases cloned ahead.
 * @throws SeedforkError as tidyDataDirectory
 */
export async function tidyStoppedServices(options: {
  sandbox: Sandbox;
  services: Record<string, ServiceConfig>;
  dataRoot: string;
}): Promise<void> {
  for (const name of serviceOrder(options.services)) {
    if (serviceKind(options.services[name]!) !== 'postgres') continue;
    await tidyDataDirectory({ name, sandbox: options.sandbox, dataDir: join(options.dataRoot, name) });
  }
}
