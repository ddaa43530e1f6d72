import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { MAX_OUTPUT_BYTES, runToCompletion, spawnService } from '../exec.js';
import { findFilesIn } from '../find-files.js';
import { hostFiles } from '../host-files.js';
import { type ListeningSocket, readListeningSockets } from '../proc-net.js';
import type {
  ExecOptions,
  ExecResult,
  FileChanges,
  FoundFile,
  ResourceLimits,
  Sandbox,
  SandboxProcess,
} from '../types.js';
import { type CgroupLayout, createSandboxCgroup, destroySandboxCgroup } from './cgroup.js';
import { helperPath } from './helper.js';
import { namespaceProcesses, overlayChanges } from './inspect.js';
import { removeTree } from './remove.js';
import { Zygote } from './zygote.js';

/** What `sandboxes/<id>/meta.json` records, so `seedfork shell` and `seedfork gc` can find it. */
export interface SandboxMeta {
  id: string;
  /** Host PID of the sandbox's PID 1. */
  initPid: number;
  /** Host PID of the helper process that watches seedfork and kills the sandbox when it goes away. */
  helperPid: number;
  /** PID of the seedfork process that made it. */
  ownerPid: number;
  kept: boolean;
  createdAt: string;
  cgroups: string[];
  snapshot: string | undefined;
}

/** Options for {@link NamespaceSandbox.start}. */
export interface StartOptions {
  /** Sandbox directory: holds upper/, work/, merged/, logs/ and meta.json. */
  dir: string;
  id?: string;
  /** Lower layers, top-most first; `/` is appended. */
  layers: string[];
  /** Upper (copy-on-write) directory; default `<dir>/upper`. One outside `dir` survives kill(). */
  upper?: string;
  snapshot: string | undefined;
  cgroups: CgroupLayout;
  limits: ResourceLimits;
  shareNetwork: boolean;
  rootless: boolean;
  /** Host directories to hide inside the sandbox (seedfork's state directory). */
  hide: string[];
  /** Directories that get an overlay of their own (rootless: project, $HOME; root: another filesystem). */
  ownDirs?: string[];
}

/** Make a short random sandbox id (8 hex chars). */
export function newSandboxId(): string {
  return randomBytes(4).toString('hex');
}

/** Read at most the last `max` bytes of a file. */
function readTail(path: string, max: number): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, max);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * A sandbox of the namespace backend. Its PID 1 and the helper process watching it are forked
 * by the {@link Zygote}; commands enter it with `seedfork-ns exec` through the same zygote.
 */
export class NamespaceSandbox implements Sandbox {
  readonly backend = 'namespace';
  readonly logDir: string;
  private killed = false;
  private execs = 0;
  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly initPid: number,
    private readonly monitorPid: number,
    private readonly gone: Promise<void>,
    private readonly cgroupDirs: string[],
    private readonly meta: SandboxMeta,
    /** Host directory of the copy-on-write upper layer. */
    private readonly upper: string,
    /** Host directories of the snapshot's layers, top-most first. */
    private readonly layers: string[],
  ) {
    this.logDir = join(dir, 'logs');
  }

  /**
   * Create the namespaces, mounts and cgroup of a new sandbox and wait for its PID 1.
   * @throws SeedforkError with the helper's message when a mount or namespace fails; nothing
   *   is left behind in that case.
   */
  static async start(options: StartOptions): Promise<NamespaceSandbox> {
    const id = options.id ?? newSandboxId();
    const dir = options.dir;
    const upper = options.upper ?? join(dir, 'upper');
    for (const d of [upper, join(dir, 'work'), join(dir, 'merged'), join(dir, 'logs')]) {
      mkdirSync(d, { recursive: true });
    }
    let cgroupDirs: string[] = [];
    let gone: Promise<void> | undefined;
    try {
      cgroupDirs = createSandboxCgroup(options.cgroups, id, options.limits);
      const args = ['start', '--hostname', `sf-${id}`];
      for (const layer of [...options.layers, '/']) args.push('--lower', layer);
      args.push('--upper', upper, '--work', join(dir, 'work'), '--merged', join(dir, 'merged'));
      for (const c of cgroupDirs) args.push('--cgroup', c);
      for (const h of options.hide) args.push('--hide', h);
      if (options.shareNetwork) args.push('--share-net');
      if (options.rootless) args.push('--userns');
      for (const d of options.ownDirs ?? []) args.push('--own-dir', d);
      let monitorPid = 0;
      let settle: { resolve(pid: number): void; reject(error: Error): void } | undefined;
      const ready = new Promise<number>((resolve, reject) => {
        settle = { resolve, reject };
      });
      gone = Zygote.get().request(args, (text) => {
        if (text.startsWith('pid ')) monitorPid = Number(text.slice(4));
        else if (text.startsWith('ready ')) settle?.resolve(Number(text.slice(6)));
        else if (text.startsWith('error ')) settle?.reject(explainStartFailure(text.slice(6).trim()));
        else if (text === 'exited' || text === 'lost') {
          settle?.reject(explainStartFailure(''));
          return true;
        }
        return false;
      });
      const initPid = await ready;
      const meta: SandboxMeta = {
        id,
        initPid,
        helperPid: monitorPid,
        ownerPid: process.pid,
        kept: false,
        createdAt: new Date().toISOString(),
        cgroups: cgroupDirs,
        snapshot: options.snapshot,
      };
      writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
      return new NamespaceSandbox(
        id,
        dir,
        initPid,
        monitorPid,
        gone,
        cgroupDirs,
        meta,
        upper,
        options.layers,
      );
    } catch (error) {
      await gone;
      await destroySandboxCgroup(cgroupDirs).catch(() => {});
      removeTree(dir);
      throw error;
    }
  }

  private helperArgs(options: { cwd?: string; user?: string; pgroup?: boolean }): string[] {
    const args = ['--pid', String(this.initPid), '--cwd', options.cwd ?? '/'];
    for (const c of this.cgroupDirs) args.push('--cgroup', c);
    if (options.user) args.push('--user', options.user);
    if (options.pgroup) args.push('--pgroup');
    return args;
  }

  /**
   * Run a command to completion through the zygote, its output going to a file in the
   * sandbox directory (read back, up to MAX_OUTPUT_BYTES, when it exits). Commands whose
   * stdio is inherited or an fd, or with an empty argument, are spawned directly instead.
   */
  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertAlive();
    const stdio = options.stdio ?? 'pipe';
    if ((stdio !== 'pipe' && stdio !== 'ignore') || argv.some((a) => a === '')) {
      return runToCompletion([helperPath(), 'exec', ...this.helperArgs(options), '--', ...argv], options);
    }
    const started = performance.now();
    const out = stdio === 'pipe' ? join(this.dir, `exec-${++this.execs}.out`) : '-';
    const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    let pid = 0;
    let exitCode = 1;
    let timedOut = false;
    let stop = false;
    const killIt = () => {
      stop = true;
      if (pid) killQuietly(pid);
    };
    const onTimeout = () => {
      timedOut = true;
      killIt();
    };
    const timer = options.timeoutMs !== undefined ? setTimeout(onTimeout, options.timeoutMs) : undefined;
    options.signal?.addEventListener('abort', killIt, { once: true });
    const stream = out !== '-' && options.onOutput ? new OutputTail(out, options.onOutput) : undefined;
    try {
      await Zygote.get().request(
        ['exec', out, '--clear-env', ...env, ...this.helperArgs(options), '--', ...argv],
        (text) => {
          if (text.startsWith('pid ')) {
            pid = Number(text.slice(4));
            if (stop) killQuietly(pid);
            return false;
          }
          if (text.startsWith('exit ')) exitCode = Number(text.slice(5));
          return true; // exit, or an error/lost line: nothing more will come
        },
      );
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', killIt);
      stream?.stop();
    }
    let output = '';
    if (out !== '-') {
      try {
        output = readTail(out, MAX_OUTPUT_BYTES);
      } catch {
        // the command never started
      }
      rmSync(out, { force: true });
    }
    return { exitCode: timedOut ? 124 : exitCode, output, durationMs: performance.now() - started, timedOut };
  }

  spawn(
    argv: string[],
    options: Omit<ExecOptions, 'timeoutMs' | 'signal'> & { logFile: string },
  ): ChildProcess {
    this.assertAlive();
    return spawnService(
      [helperPath(), 'exec', ...this.helperArgs({ ...options, pgroup: true }), '--', ...argv],
      {
        env: options.env,
        logFile: options.logFile,
      },
    );
  }

  readFile(path: string): Promise<Buffer | undefined> {
    return hostFiles.read(this.hostPath(path));
  }

  writeFile(path: string, data: string | Buffer, options?: { mode?: number }): Promise<void> {
    return hostFiles.write(this.hostPath(path), data, options);
  }

  makeDir(path: string, options?: { mode?: number; owner?: { uid: number; gid: number } }): Promise<void> {
    return hostFiles.makeDir(this.hostPath(path), options);
  }

  exists(path: string): Promise<boolean> {
    return hostFiles.exists(this.hostPath(path));
  }

  async findFiles(dir: string, patterns: readonly string[]): Promise<FoundFile[]> {
    return findFilesIn(this.hostPath(dir), patterns);
  }

  async changedFiles(ignore: (path: string) => boolean = () => false): Promise<FileChanges> {
    return overlayChanges(this.upper, this.killed ? undefined : this.hostPath('/tmp'), this.layers, ignore);
  }

  async listeningSockets(): Promise<ListeningSocket[]> {
    return readListeningSockets(`/proc/${this.initPid}/net`);
  }

  async processes(): Promise<SandboxProcess[]> {
    return namespaceProcesses(this.initPid);
  }

  /**
   * The host path at which a path inside the sandbox can be read and written (through the
   * sandbox init's root, /proc/<pid>/root). A namespace-backend detail: code outside
   * src/sandbox/namespace uses the {@link Sandbox} methods.
   */
  hostPath(path: string): string {
    return `/proc/${this.initPid}/root${path.startsWith('/') ? path : `/${path}`}`;
  }

  /** Keep the sandbox when seedfork exits: its watcher stops watching the lifeline. */
  async keep(shell?: { cwd: string; env: Record<string, string> }): Promise<void> {
    this.assertAlive();
    if (shell) writeFileSync(join(this.dir, 'env.json'), JSON.stringify(shell));
    process.kill(this.monitorPid, 'SIGUSR1');
    this.meta.kept = true;
    writeFileSync(join(this.dir, 'meta.json'), JSON.stringify(this.meta, null, 2));
  }

  /** Kill every process, release the cgroup and delete the sandbox directory (and its upper layer). */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    try {
      process.kill(this.initPid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.gone;
    await destroySandboxCgroup(this.cgroupDirs);
    // A seed sandbox's upper directory lives outside `dir` and becomes the snapshot layer.
    removeTree(this.dir);
  }

  private assertAlive(): void {
    if (this.killed) throw new SeedforkError(`sandbox ${this.id} was already killed`);
  }
}

/** SIGKILL `pid`, which may have exited already (a timeout or abort racing the command's exit). */
function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** How often a running command's output file is read for {@link ExecOptions.onOutput}, in ms. */
const TAIL_INTERVAL_MS = 100;

/** Follows a growing output file and hands new text to a callback (UTF-8 split safely). */
class OutputTail {
  private offset = 0;
  private readonly decoder = new StringDecoder('utf8');
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly path: string,
    private readonly onOutput: (chunk: string) => void,
  ) {
    this.timer = setInterval(() => this.read(), TAIL_INTERVAL_MS);
  }

  private read(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return; // not created yet
    }
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.decoder.write(buffer.subarray(0, n));
        if (text) this.onOutput(text);
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Read what is left and stop following. */
  stop(): void {
    clearInterval(this.timer);
    this.read();
    const rest = this.decoder.end();
    if (rest) this.onOutput(rest);
  }
}

function explainStartFailure(message: string): SeedforkError {
  let hint = 'This is the kernel refusing a namespace or mount the sandbox needs.';
  if (/overlay/.test(message)) {
    hint =
      'overlayfs refused the mount. Check `modprobe overlay`, and that the state directory is on a ' +
      'filesystem overlayfs accepts as upper (ext4, xfs, btrfs, tmpfs; not another overlay or NFS).';
  } else if (/clone|EPERM|Operation not permitted/.test(message)) {
    hint = 'Run as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1).';
  }
  return new SeedforkError(`cannot create a sandbox: ${message || 'the helper exited without a message'}`, {
    hint,
  });
}
