import type { Socket } from 'node:net';
import { totalmem } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ListeningSocket } from './proc-net.js';

export type { ListeningSocket } from './proc-net.js';

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
  /**
   * Record every address the command and its children bind(2) to, one per line, appended to
   * this file of the sandbox: `inet ADDR PORT`, `inet6 ADDR PORT`, `unix PATH` or `unix @NAME`
   * (port 0 left out). Traced by the sandbox's seccomp filter, so short-lived binds count too.
   * Only where {@link Sandbox.tracesBinds}; elsewhere ignored. A bind made after the command
   * itself exited (by a process it left running) fails with ENOSYS while this is on.
   */
  traceBinds?: string;
}

/**
 * A process started in a sandbox: what seedfork reads of Node's ChildProcess, which is one, and
 * which a process forked from a {@link ProcessTemplate} imitates.
 */
export interface SpawnedProcess {
  /** Host pid of the process seedfork signals (the sandbox helper's, which passes signals on). */
  readonly pid?: number | undefined;
  readonly stdin?: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** stdin, stdout, stderr and, with a channel, fd 3 (a duplex stream). */
  readonly stdio: readonly (Readable | Writable | null | undefined)[];
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals | number): boolean;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * A program started once, outside any sandbox, that waits to be forked into sandboxes (a
 * process zygote: its start-up, a runner's modules loaded, is paid once).
 */
export interface ProcessTemplate {
  /**
   * Fork the waiting program into a sandbox of the namespace backend. `execOptions` are those of
   * `seedfork-ns exec` (native/seedfork-ns.c) without a command: the fork enters the sandbox as
   * that command would. The process gets stdout, stderr and fd 3 (`stdio[3]`) as with
   * {@link SpawnOptions.channel}.
   * @throws Error when the template's program is no longer running
   */
  fork(execOptions: string[]): SpawnedProcess;
}

/** Options of {@link Sandbox.spawn}. */
export interface SpawnOptions extends Omit<ExecOptions, 'timeoutMs' | 'signal'> {
  /** Append stdout and stderr to this host file (capped at `limits.output`). */
  logFile?: string;
  /** Give the command fd 3, a socket to seedfork; ignored with `logFile`. */
  channel?: boolean;
}

/** What a finished command left: exit code (128+N when killed by signal N) and its output. */
export interface ExecResult {
  exitCode: number;
  /** Interleaved stdout+stderr when stdio was `pipe`, else empty. */
  output: string;
  durationMs: number;
  timedOut: boolean;
  /** The sandbox limit the command ran into, when one stopped it or refused it something. */
  limit?: LimitHit;
  /** Why the sandbox itself ended while the command ran (its init was killed from outside). */
  sandboxDied?: string;
}

/** A sandbox limit a command reached (see {@link ResourceLimits}). */
/** A file larger than a reader would take (Sandbox.readFile's `maxBytes`): it was not read. */
export class FileTooLargeError extends Error {
  constructor(
    readonly path: string,
    /** Its size, in bytes. */
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`${path} is ${bytes} bytes, more than the ${maxBytes} allowed`);
  }
}

export interface LimitHit {
  /** The `limits` key: `memory` (the OOM killer ended a process), `pids` (a fork was refused),
   * `disk` (the quota filled up: writes failed with ENOSPC), `output` (the command was stopped). */
  name: 'memory' | 'pids' | 'disk' | 'output';
  /** The limit's value: bytes, or a number of processes for `pids`. */
  value: number;
  /** One line for the report, naming the limit and its value. */
  message: string;
}

/** A file found by {@link Sandbox.findFiles}. */
export interface FoundFile {
  /** Relative to the directory searched. */
  path: string;
  /** Last modification, epoch ms (when listed, for an `unreadable` one). */
  mtimeMs: number;
  /** Why it matched but cannot be copied by name (a newline in its name, a path over
   * PATH_MAX): listed so that callers say what they skipped, never read. */
  unreadable?: string;
}

/** What {@link Sandbox.changedFiles} reports: absolute paths inside the sandbox, sorted. */
export interface FileChanges {
  created: string[];
  changed: string[];
  deleted: string[];
}

/** A process inside a sandbox. */
export interface SandboxProcess {
  /** As the sandbox's PID namespace numbers it. */
  pid: number;
  /** Command line (or `[comm]` when it has none). */
  command: string;
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
   * returned process reach that whole group. It dies with the sandbox at the latest. Its output
   * is appended to `logFile`; without one, stdin, stdout and stderr are pipes (a worker that
   * seedfork talks to over them). With `channel` (and no `logFile`) the command also gets fd 3,
   * a socket to seedfork (`stdio[3]` of the returned process), for a protocol that its own
   * output must not mix with.
   */
  spawn(argv: string[], options: SpawnOptions): SpawnedProcess;
  /** Whether {@link ExecOptions.traceBinds} works here (the namespace backend's seccomp filter). */
  readonly tracesBinds: boolean;
  /**
   * Fork `template`'s waiting program into the sandbox, with a channel (as `spawn` with
   * `channel: true`; `logFile` is ignored). Only backends that can fork into a sandbox have it
   * (namespace); elsewhere, start the program afresh with `spawn`.
   * @throws Error when the template's program is no longer running
   */
  spawnFrom?(template: ProcessTemplate, options: SpawnOptions): SpawnedProcess;
  /**
   * What stopped commands in this sandbox since it was forked, for a command started with
   * {@link spawn}, whose exit says nothing of it: a limit reached (`memory`, `pids`, `disk`; the
   * output limit applies to exec and logs only), and why the sandbox died when it was killed
   * from outside (as {@link ExecResult.sandboxDied}). Ask before `kill`. Never throws.
   */
  incidents(): Promise<{ limit?: LimitHit; died?: string }>;
  // Inspection, in terms any backend can answer (a microVM through its guest agent); paths are
  // absolute paths inside the sandbox.
  /**
   * Contents of a regular file, or undefined when there is none (or it cannot be read; the
   * microvm guest's agent reads at most 16 MiB).
   * @throws FileTooLargeError when the file is larger than `options.maxBytes` (not read)
   */
  readFile(path: string, options?: { maxBytes?: number }): Promise<Buffer | undefined>;
  /** Write a file (its directory must exist). */
  writeFile(path: string, data: string | Buffer, options?: { mode?: number }): Promise<void>;
  /** Create a directory and its missing parents; `mode` and `owner` (numeric ids of the
   * sandbox's users) apply to the last one. */
  makeDir(path: string, options?: { mode?: number; owner?: { uid: number; gid: number } }): Promise<void>;
  /** Whether anything (file, directory, socket) exists at `path`. */
  exists(path: string): Promise<boolean>;
  /**
   * Create a symbolic link at `path` (its directory must exist) that points at `target`, a
   * path as processes in the sandbox resolve it.
   * @throws when something already exists at `path`
   */
  symlink(target: string, path: string): Promise<void>;
  /**
   * Files below `dir` matching glob `patterns` (picomatch syntax, relative to `dir`, dotfiles
   * included), never below node_modules, with their modification time (epoch ms). Regular files
   * only: symbolic links are neither listed nor followed.
   */
  findFiles(dir: string, patterns: readonly string[]): Promise<FoundFile[]>;
  /**
   * Files created, changed and deleted since the fork (the snapshot's state), skipping paths
   * for which `ignore` is true. Directories are listed (with a trailing `/`) only when new and empty.
   * @throws SeedforkError where the backend cannot tell (no isolation).
   */
  changedFiles(ignore?: (path: string) => boolean): Promise<FileChanges>;
  /** TCP sockets listening in the sandbox's network namespace. */
  listeningSockets(): Promise<ListeningSocket[]>;
  /**
   * A connection from the host to `127.0.0.1:<port>` inside the sandbox (its own network
   * namespace, which the host cannot reach by address), through a bridge process started in
   * the sandbox on first use. Only where the backend can (namespace).
   * @throws SeedforkError when the bridge cannot start; the socket errors when nothing listens
   */
  connect?(port: number): Promise<Socket>;
  /** Processes running in the sandbox except its init (pids as the sandbox sees them). */
  processes(): Promise<SandboxProcess[]>;
  /** Host directory for this sandbox's logs (service logs, captured output). */
  readonly logDir: string;
  /** Keep the sandbox alive after seedfork exits, for `seedfork shell`, which will enter it at
   * `shell.cwd` with `shell.env`. */
  keep(shell?: { cwd: string; env: Record<string, string> }): Promise<void>;
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

/**
 * Default limits of a sandbox: enough for a normal test file (a runner, a browser, a database),
 * not for a fork bomb, a memory leak, a disk filler or an output flood.
 * - memory: half the host's RAM, at most 8 GiB;
 * - pids: 4096 processes and threads;
 * - disk: 4 GiB for the copy-on-write layer and /tmp together (held in memory: tmpfs);
 * - output: 128 MiB of captured stdout and stderr per command.
 */
export const DEFAULT_LIMITS: ResourceLimits = {
  memoryBytes: Math.min(8 * 1024 ** 3, Math.floor(totalmem() / 2)),
  pids: 4096,
  diskBytes: 4 * 1024 ** 3,
  outputBytes: 128 * 1024 ** 2,
};

/** Resource limits for a sandbox. Undefined means unlimited. */
export interface ResourceLimits {
  /** Memory limit in bytes (cgroup `memory.max` / `memory.limit_in_bytes`). */
  memoryBytes?: number;
  /** Maximum number of processes and threads (cgroup `pids.max`). */
  pids?: number;
  /** Disk quota in bytes for what the sandbox writes (its copy-on-write layer and /tmp). */
  diskBytes?: number;
  /** Captured output (stdout and stderr) of one command, in bytes; past it the command is stopped. */
  outputBytes?: number;
}

/** How commands in a sandbox are confined (see native/harden.c). */
export interface Confinement {
  /** User namespace, dropped capabilities, no_new_privs and the seccomp filter (default true;
   * false only to measure what they cost). */
  harden?: boolean;
  /** System calls the filter would refuse that this suite needs (config `sandbox.allowSyscalls`). */
  allowSyscalls?: string[];
}

/** A live sandbox, as {@link Backend.list} reports it. */
export interface SandboxSummary {
  id: string;
  /** Kept for `seedfork shell` (else it belongs to a running seedfork process). */
  kept: boolean;
  /** PID of the seedfork process that made it. */
  ownerPid: number;
  /** ISO time it was forked. */
  createdAt: string;
}

/** A host command that runs a command inside a live sandbox, as {@link Backend.attach} returns it. */
export interface AttachCommand {
  argv: string[];
  /** Environment to run it with (the one the sandbox's tests had, when it was kept with it). */
  env: Record<string, string>;
}

/** What {@link Backend.gc} removed. */
export interface GcReport {
  sandboxes: string[];
  cgroups: string[];
  snapshotsInProgress: string[];
  /** Keys of snapshots pruned to fit `snapshotBudgetBytes`. */
  snapshots: string[];
}

/** Options of {@link Backend.gc}. */
export interface GcOptions {
  /** Also remove sandboxes kept by `--keep-failed`. */
  includeKept?: boolean;
  /** Prune snapshots, least recently used first, until those left take at most this many bytes.
   * Snapshots in use by a live run and those in `keepSnapshots` are never pruned. */
  snapshotBudgetBytes?: number;
  /** Keys of snapshots to keep whatever their size (the current config's). */
  keepSnapshots?: string[];
}

/**
 * A way to make isolated sandboxes. One interface, several implementations (one folder each):
 * `namespace` (Linux namespaces + overlayfs + cgroups) is the default.
 */
export interface Backend {
  readonly name: string;
  /**
   * Whether a fork resumes the processes its snapshot's seed left running (a microVM restored
   * from a running guest): then services are not started again in each fork. Else (namespace)
   * a snapshot holds files only, and the seed's services are stopped before it is frozen.
   */
  readonly forksKeepProcesses: boolean;
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
  /**
   * Remove the cached snapshot with this key now. Sandboxes already forked from it must be
   * killed first (the namespace backend's forks read its files).
   * @returns false when there was none
   * @throws Error when another live seedfork process uses it
   */
  deleteSnapshot(key: string): Promise<boolean>;
  /** Remove sandboxes, cgroups and half-built snapshots that crashed or kept runs left behind. */
  gc(options?: GcOptions): Promise<GcReport>;
  /** Live sandboxes under this backend's state (kept ones and those of running seedfork processes). */
  list(): Promise<SandboxSummary[]>;
  /**
   * How to run `argv` (an interactive shell when empty) inside the live sandbox `id`, from the
   * host with inherited stdio: `seedfork shell`.
   * @throws SeedforkError when there is no such live sandbox.
   */
  attach(id: string, argv: string[]): Promise<AttachCommand>;
}
