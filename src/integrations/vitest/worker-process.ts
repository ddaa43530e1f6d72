import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lease } from '../../run/environment.js';
import type { RunningTemplate, SpawnedProcess } from '../../sandbox/index.js';
import { startWorkerZygote } from '../worker-zygote.js';

/** Preloaded into a worker started afresh in a sandbox: its IPC channel over fd 3
 * (channel-preload.cts, compiled beside this file). */
const CHANNEL = fileURLToPath(new URL('./channel-preload.cjs', import.meta.url));
/** The worker zygote (zygote.cts): Vitest's worker loaded once on the host, forked into each
 * sandbox. */
const ZYGOTE = fileURLToPath(new URL('./zygote.cjs', import.meta.url));

/** How Vitest starts its forks workers: its dist directory (the worker is `workers/forks.js`
 * there), the worker's Node options and the environment Vitest gives it. */
export interface VitestWorkerSpec {
  distPath: string;
  execArgv: string[];
  env: Partial<NodeJS.ProcessEnv>;
  /** The project root: the worker's cwd. */
  root: string;
}

/** A key naming how a worker is started (its Node options and environment): workers with the
 * same key come from one zygote and may take each other's place. */
export function workerKey(spec: Pick<VitestWorkerSpec, 'execArgv' | 'env'>): string {
  return JSON.stringify([spec.execArgv, spec.env]);
}

/**
 * The environment of a Vitest worker in a sandbox. Vitest gives its workers `vitestEnv`: the
 * environment of its own process (`hostEnv`) with its variables (VITEST, TEST, NODE_ENV) and
 * the config's `test.env` on top. In a sandbox the lease's environment takes the host's place:
 * a variable that the sandbox sets (its Postgres's DATABASE_URL) or removes (`test.env` entries
 * set to false) wins over the host value Vitest copied, and what Vitest or its config set (a
 * value the host does not have) stays.
 */
export function workerEnv(
  leaseEnv: Record<string, string>,
  vitestEnv: Partial<NodeJS.ProcessEnv>,
  hostEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env = { ...leaseEnv };
  for (const [name, value] of Object.entries(vitestEnv)) {
    if (value !== undefined && hostEnv[name] !== value) env[name] = value;
  }
  return env;
}

/**
 * Start the worker zygote for workers of `spec`: Vitest's forks worker loaded once on the host,
 * to be forked into each sandbox (see startWorkerZygote). Undefined where it cannot run
 * (`onUnavailable` says why) or with SEEDFORK_ZYGOTE=0.
 * @param baseEnv the environment seedfork gives commands (see baseEnvironment)
 */
export function startVitestZygote(
  spec: VitestWorkerSpec,
  baseEnv: Record<string, string>,
  onUnavailable: (reason: string) => void,
): Promise<RunningTemplate | undefined> {
  return startWorkerZygote(
    [process.execPath, ...spec.execArgv, ZYGOTE],
    {
      cwd: spec.root,
      env: workerEnv(baseEnv, spec.env),
      input: JSON.stringify({ entrypoint: join(spec.distPath, 'workers/forks.js') }),
    },
    onUnavailable,
  );
}

/**
 * Vitest's forks worker in the lease's sandbox, its IPC channel on fd 3 (channel.cts): forked
 * from `zygote` where there is one, else started afresh. It waits for Vitest's `start` message.
 */
export function startVitestWorker(
  lease: Lease,
  spec: VitestWorkerSpec,
  zygote: RunningTemplate | undefined,
  attempt = 1,
): SpawnedProcess {
  const options = {
    cwd: spec.root,
    env: { ...workerEnv(lease.env, spec.env), SEEDFORK_ATTEMPT: String(attempt) },
    channel: true,
  };
  return zygote && lease.sandbox.spawnFrom
    ? lease.sandbox.spawnFrom(zygote, options)
    : lease.sandbox.spawn(
        [process.execPath, ...spec.execArgv, '--require', CHANNEL, join(spec.distPath, 'workers/forks.js')],
        options,
      );
}
