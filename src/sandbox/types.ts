import type { ChildProcess } from 'node:child_process';

/** Where a sandbox's command reads stdin and writes stdout/stderr. */
export type ExecStdio = 'pipe' | 'inherit' | 'ignore' | number;

/** Options for running a command inside a sandbox. */
export interface ExecOptions {
  /** Working directory inside the sandbox (absolute). Default: `/`. */
  cwd?: string;
  /** Complete environment of the command (not merged with anything). */
  env?: Record<string, string>;
  /** Run as this user of the sandbox's /etc/passwd (for example `postgres`). */
  user?: string;
  /** stdout and stderr target. `pipe` collects them into {@link ExecResult.output}. Default `pipe`. */
  stdio?: ExecStdio;
  /** Kill the command after this many milliseconds (exit code 124 in the result). */
  timeoutMs?: number;
  /** Aborting kills the command. */
  signal?: AbortSignal;
  /** Called with the command's output (stdout and stderr, as text) as it comes, when stdio is `pipe`. */
  onOutput?: (chunk: string) => void;
}

/** What a finished command left: exit code (128+N when killed by signal N) and its output. */
export interface ExecResult {
  exitCode: number;
  /** Interleaved stdout+stderr when stdio was `pipe`, else empty. */
  output: string;
  durationMs: number;
  timedOut: boolean;
}

/**
 * A running isolated environment forked from a {@link Snapshot}: its own filesystem view,
 * network namespace (loopback only, full port space), PID/IPC/UTS namespaces and cgroup.
 * `kill()` ends every process in it and removes every mount, cgroup and file it held.
 */
export interface Sandbox {
  /** Short unique id, used by `seedfork shell <id>`. */
  readonly id: string;
  /** Name of the backend that made it. */
  readonly backend: string;
  /** Run a command to completion inside the sandbox. */
  exec(argv: string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * Start a long-running command (a service) in its own process group; signals sent to the
   * returned process reach that whole group. It dies with the sandbox at the latest.
   */
  spawn(
    argv: string[],
    options: Omit<ExecOptions, 'timeoutMs' | 'signal'> & { logFile: string },
  ): ChildProcess;
  /** Contents of a file inside the sandbox (absolute path), or undefined when there is none. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Create a directory (and its parents) inside the sandbox, owned by the sandbox's root. */
  makeDir(path: string): Promise<void>;
  /** The host path at which a path inside the sandbox can be read and written. */
  hostPath(path: string): string;
  /** Host path of a file of this sandbox's network namespace under /proc/net (for example `tcp`). */
  procNet(file: string): string;
  /** Host directory for this sandbox's logs (service logs, captured output). */
  readonly logDir: string;
  /** Keep the sandbox alive after seedfork exits, for `seedfork shell`. */
  keep(): Promise<void>;
  /** End every process and release every resource. Safe to call twice. */
  kill(): Promise<void>;
}

/**
 * Frozen, read-only state that sandboxes are forked from. Layered: the host at the bottom,
 * the seeded state above. Content-addressed by `key`.
 */
export interface Snapshot {
  readonly key: string;
  /** ISO time the snapshot was frozen. */
  readonly createdAt: string;
  /** Host directories of the layers, top-most first (the host root `/` is implied below). */
  readonly layers: string[];
}

/** Options for {@link Backend.createSnapshot}. */
export interface CreateSnapshotOptions {
  /** Cache key (hex). A snapshot with this key is reused by {@link Backend.openSnapshot}. */
  key: string;
  /** Share the host network namespace while seeding (so `npm ci` can reach a registry). */
  shareNetwork?: boolean;
  /** Populate the seed sandbox. The snapshot is frozen after it resolves and the sandbox is killed. */
  build: (sandbox: Sandbox) => Promise<void>;
}

/** Resource limits for a sandbox, applied through cgroup v2 or v1. */
export interface ResourceLimits {
  /** Memory limit in bytes. */
  memoryBytes?: number;
  /** Maximum number of processes/threads. */
  pids?: number;
}

/** What {@link Backend.gc} removed. */
export interface GcReport {
  sandboxes: string[];
  cgroups: string[];
  snapshotsInProgress: string[];
}

/**
 * A way to make isolated sandboxes. One interface, several implementations (one folder each):
 * `namespace` (Linux namespaces + overlayfs + cgroups) is the default.
 */
export interface Backend {
  readonly name: string;
  /** Throws a SeedforkError naming the missing kernel feature (or privilege) and the fix. */
  preflight(): Promise<void>;
  /** A cached snapshot with this key, or undefined. */
  openSnapshot(key: string): Promise<Snapshot | undefined>;
  /** Seed a new snapshot: runs `build` in a sandbox over the host, then freezes its changes. */
  createSnapshot(options: CreateSnapshotOptions): Promise<Snapshot>;
  /** Fork a sandbox from a snapshot (or from the bare host when undefined). */
  fork(
    snapshot: Snapshot | undefined,
    options?: { limits?: ResourceLimits; shareNetwork?: boolean },
  ): Promise<Sandbox>;
  /** Remove sandboxes, cgroups and half-built snapshots that crashed or kept runs left behind. */
  gc(options?: { includeKept?: boolean }): Promise<GcReport>;
}
