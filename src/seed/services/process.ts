import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** A service's main process, with its exit state tracked. */
export interface ServiceProcess {
  child: ChildProcess;
  /** Undefined while running; "exit code N" / "signal S" after. */
  exited(): string | undefined;
  /**
   * Send `signal`, wait up to `graceMs` for exit, then SIGKILL.
   * Resolves once the process is gone.
   */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

/** Track a spawned service process. */
export function track(child: ChildProcess): ServiceProcess {
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
      const timedOut = await Promise.race([done.then(() => false), sleep(graceMs).then(() => true)]);
      if (timedOut) {
        child.kill('SIGKILL');
        await done;
      }
    },
  };
}
