import { setTimeout as sleep } from 'node:timers/promises';
import type { SpawnedProcess } from '../../sandbox/types.js';
import { type ReadyCheck, tail, waitFor } from '../ready.js';
import type { RunningService, ServiceContext } from './types.js';

/** A service's main process, with its exit state tracked. */
export interface ServiceProcess {
  child: SpawnedProcess;
  /** Undefined while running; "exit code N" / "signal S" after. */
  exited(): string | undefined;
  /**
   * Send `signal`, wait up to `graceMs` for exit, then SIGKILL.
   * Resolves once the process is gone.
   */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

/** Track a spawned service process. */
export function track(child: SpawnedProcess): ServiceProcess {
  let state: string | undefined;
  const done = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      state = sig ? `signal ${sig}` : `exit code ${code}`;
      resolve();
    });
    child.once('error', (error) => {
      state = error.message;
      resolve();
    });
  });
  return {
    child,
    exited: () => state,
    async stop(signal, graceMs) {
      if (state !== undefined) return;
      child.kill(signal);
      // the grace timer is cancelled once the process is gone: a library user's process would
      // otherwise stay alive until it fires
      const grace = new AbortController();
      const timedOut = await Promise.race([
        done.then(() => false),
        sleep(graceMs, true, { signal: grace.signal }).catch(() => false),
      ]);
      grace.abort();
      if (timedOut) {
        child.kill('SIGKILL');
        await done;
      }
    },
  };
}

/**
 * Wait until `check` passes for a service started as `proc`; on timeout, early exit or
 * cancellation, stop it with `stop` and rethrow (the error carries the log tail).
 */
export async function awaitReady(
  ctx: ServiceContext,
  proc: ServiceProcess,
  check: ReadyCheck,
  timeoutMs: number,
  stop: () => Promise<void>,
): Promise<void> {
  try {
    await waitFor(ctx.name, check, ctx.sandbox, {
      timeoutMs,
      died: proc.exited,
      logTail: () => tail(ctx.logFile),
      signal: ctx.signal,
    });
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A service that came running with its sandbox (a restored microvm guest): wait until `check`
 * passes (it was running when the snapshot was saved, so at once), and describe it. Its `stop`
 * does nothing: it ends with the sandbox, which the service's driver did not start.
 */
export async function resumed(
  ctx: ServiceContext,
  check: ReadyCheck | undefined,
  timeoutMs: number,
  service: { env: Record<string, string>; url?: string },
): Promise<RunningService> {
  if (check)
    await waitFor(ctx.name, check, ctx.sandbox, {
      timeoutMs,
      logTail: () => tail(ctx.logFile),
      signal: ctx.signal,
    });
  return { name: ctx.name, ...service, logFile: ctx.logFile, stop: async () => {} };
}
