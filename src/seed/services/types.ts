import type { Sandbox } from '../../sandbox/types.js';

/** What a service driver gets to work with. */
export interface ServiceContext {
  name: string;
  sandbox: Sandbox;
  /** Directory for the service's persistent data, as a path inside the sandbox. */
  dataDir: string;
  /** Host file the service's stdout/stderr go to. */
  logFile: string;
  /** Environment of the seed/test commands (the service may use PATH from it). */
  env: Record<string, string>;
  /** Project root (working directory of commands). */
  cwd: string;
  signal?: AbortSignal;
}

/** A started service. */
export interface RunningService {
  name: string;
  /** Variables exported to seed steps and tests (DATABASE_URL, PGHOST, ...), before the
   * service's `exports` renames or drops some. */
  env: Record<string, string>;
  /** Connection URL of the service, when it has one (postgres), whatever `exports` exports. */
  url?: string;
  logFile: string;
  /** Stop cleanly (SIGINT/SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

/**
 * One kind of service. `seed` runs once, in the seed sandbox (create data, start, prepare);
 * `start` runs in each fork, from the seeded data; `resume` in a fork that kept the seed's
 * processes (a microvm guest restored running): the service runs already, so it only says what
 * the service exports, once a check that needs no new process passes.
 */
export interface ServiceDriver<C> {
  seed(ctx: ServiceContext, config: C): Promise<RunningService>;
  start(ctx: ServiceContext, config: C): Promise<RunningService>;
  resume(ctx: ServiceContext, config: C): Promise<RunningService>;
}
