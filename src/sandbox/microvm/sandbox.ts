import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import picomatch from 'picomatch';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { NEWLINE_NAME, PATH_MAX, PATH_TOO_LONG } from '../find-files.js';
import { type ListeningSocket, parseListeningSockets } from '../proc-net.js';
import {
  type ExecOptions,
  type ExecResult,
  type FileChanges,
  FileTooLargeError,
  type FoundFile,
  type LimitHit,
  type ResourceLimits,
  type Sandbox,
  type SandboxProcess,
  type SpawnOptions,
} from '../types.js';
import {
  diffListings,
  listingCommand,
  parseListing,
  parseUpperListing,
  upperListingCommand,
} from './guest-changes.js';
import { GuestProcess, signalNumber } from './guest-process.js';
import { diskMountDirs } from './project-disk.js';
import { consoleTail, type Guest } from './qemu.js';

/** What a guest sandbox is made with, besides its guest. */
export interface GuestSandboxOptions {
  id: string;
  /** Host directory for service logs and captured output. */
  logDir: string;
  limits?: ResourceLimits;
  /** The listing of the snapshot's files ({@link listingCommand}'s output), for `changedFiles`. */
  baseline?: () => string;
  /** The disks mounted in the guest (the project, its node_modules): device and path. */
  mounts?: { device: string; path: string }[];
  /** Runs after QEMU is gone (removes the sandbox's files). */
  onKill?: () => Promise<void> | void;
  /** Keeps the guest alive after seedfork exits (records it as kept, with the shell's `cwd` and `env`). */
  onKeep?: (shell?: { cwd: string; env: Record<string, string> }) => void;
}

/**
 * A {@link Sandbox} that is a QEMU guest: commands and inspection go through its agent
 * (native/guest-agent.c) over virtio-serial. Its limits are the guest's: its memory and CPUs;
 * only the output limit is applied here, on the host.
 */
export class GuestSandbox implements Sandbox {
  readonly backend = 'microvm';
  /** No seccomp filter in the guest: binds are not traced. */
  readonly tracesBinds = false;
  readonly id: string;
  readonly logDir: string;
  private killed = false;
  private exitedBy: string | undefined;
  private readonly children = new Set<GuestProcess>();
  /** Commands started with a log file: agent job id and the log's file name. */
  private readonly logged: { job: number; log: string }[] = [];

  constructor(
    private readonly guest: Guest,
    private readonly options: GuestSandboxOptions,
  ) {
    this.id = options.id;
    this.logDir = options.logDir;
    mkdirSync(this.logDir, { recursive: true });
    guest.process.once('exit', (code, signal) => {
      if (!this.killed)
        this.exitedBy = `the guest's QEMU exited (${signal ? `signal ${signal}` : `exit code ${code}`}): ${consoleTail(guest.consoleLog, 5)}`;
    });
  }

  /** The guest: its agent, QMP and console (a microvm-backend detail). */
  get vm(): Guest {
    return this.guest;
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const started = performance.now();
    const stdio = options.stdio ?? 'pipe';
    const maxOutput = this.options.limits?.outputBytes ?? Number.POSITIVE_INFINITY;
    const chunks: string[] = [];
    let outputBytes = 0;
    let limit: LimitHit | undefined;
    let timedOut = false;
    const job = this.guest.agent.start(argv, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.user ? { user: options.user } : {}),
      onOutput: (chunk, stream) => {
        if (stdio === 'pipe') {
          outputBytes += Buffer.byteLength(chunk);
          if (outputBytes > maxOutput) {
            if (!limit) {
              limit = {
                name: 'output',
                value: maxOutput,
                message: `output limit reached: more than ${maxOutput} bytes of output (limits.output)`,
              };
              kill();
            }
            return;
          }
          chunks.push(chunk);
          options.onOutput?.(chunk);
        } else if (stdio === 'inherit') (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
        else if (typeof stdio === 'number') writeSync(stdio, chunk);
      },
    });
    const kill = () => job.kill(signalNumber('SIGKILL'));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs);

    options.signal?.addEventListener('abort', kill, { once: true });
    if (options.signal?.aborted) kill();
    try {
      const exit = await job.done;
      return {
        exitCode: timedOut ? 124 : exit.exitCode,
        output: chunks.join(''),
        durationMs: performance.now() - started,
        timedOut,
        ...(limit ? { limit } : {}),
      };
    } catch (error) {
      // the agent refused the command, or the guest went away under it
      const died = this.exitedBy ?? (this.killed ? 'the sandbox was killed' : undefined);
      return {
        exitCode: died ? 137 : 127,
        output: `${chunks.join('')}${died ? '' : `seedfork: ${(error as Error).message}\n`}`,
        durationMs: performance.now() - started,
        timedOut,
        ...(died ? { sandboxDied: died } : {}),
      };
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
    }
  }

  spawn(argv: string[], options: SpawnOptions): ChildProcess {
    if (options.channel && !options.logFile)
      throw new SeedforkError('the microvm backend cannot give a command a channel (fd 3) to seedfork', {
        hint: 'Runner integrations that keep workers over a channel (jest) need isolation namespace for now.',
      });
    const child = new GuestProcess(this.guest.agent, argv, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.user ? { user: options.user } : {}),
      ...(options.logFile ? { logFile: options.logFile } : {}),
      ...(this.options.limits?.outputBytes ? { maxLogBytes: this.options.limits.outputBytes } : {}),
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    if (options.logFile) this.logged.push({ job: child.jobId, log: basename(options.logFile) });
    return child as unknown as ChildProcess;
  }

  /**
   * The commands started with a log file that still run: a snapshot of this guest records them,
   * so that its forks append their output to logs of their own ({@link adoptLogs}).
   */
  runningLogged(): { job: number; log: string }[] {
    const running = new Set([...this.children].map((c) => c.jobId));
    return this.logged.filter((l) => running.has(l.job));
  }

  /** Append the output of commands a snapshot's guest started ({@link runningLogged}) to this sandbox's logs. */
  adoptLogs(logged: { job: number; log: string }[]): void {
    for (const { job, log } of logged)
      this.guest.agent.adopt(job, (chunk) => appendFileSync(join(this.logDir, log), chunk));
  }

  async incidents(): Promise<{ limit?: LimitHit; died?: string }> {
    return this.exitedBy ? { died: this.exitedBy } : {};
  }

  async readFile(path: string, options?: { maxBytes?: number }): Promise<Buffer | undefined> {
    const data = await this.guest.agent.readFile(path).catch(() => undefined);
    const maxBytes = options?.maxBytes;
    if (data && maxBytes !== undefined && data.length > maxBytes)
      throw new FileTooLargeError(path, data.length, maxBytes);
    return data;
  }

  async writeFile(path: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
    await this.guest.agent.writeFile(path, Buffer.from(data), options.mode ?? 0o644);
  }

  async makeDir(
    path: string,
    options: { mode?: number; owner?: { uid: number; gid: number } } = {},
  ): Promise<void> {
    await this.guest.agent.makeDir(path, options.mode ?? 0o755, options.owner);
  }

  async exists(path: string): Promise<boolean> {
    return this.guest.agent.exists(path).catch(() => false);
  }

  async symlink(target: string, path: string): Promise<void> {
    const r = await this.guest.agent.exec(['ln', '-s', '-T', '--', target, path]);
    if (r.exitCode !== 0)
      throw new SeedforkError(`cannot link ${path} to ${target} in sandbox ${this.id}`, {
        details: r.stderr,
      });
  }

  async findFiles(dir: string, patterns: readonly string[]): Promise<FoundFile[]> {
    if (patterns.length === 0) return [];
    const r = await this.guest.agent.exec([
      'find',
      dir,
      '-mindepth',
      '1',
      '-name',
      'node_modules',
      '-prune',
      '-o',
      '-type',
      'f',
      '-printf',
      '%T@ %P\\0',
    ]);
    const match = picomatch([...patterns], { dot: true });
    const out: FoundFile[] = [];
    for (const record of r.stdout.split('\0')) {
      const space = record.indexOf(' ');
      if (space < 0) continue;
      const path = record.slice(space + 1);
      if (!match(path.replaceAll('\n', '_'))) continue;
      const mtimeMs = Number(record.slice(0, space)) * 1000;
      const unreadable = path.includes('\n')
        ? NEWLINE_NAME
        : Buffer.byteLength(`${dir}/${path}`) >= PATH_MAX
          ? PATH_TOO_LONG
          : undefined;
      out.push({ path, mtimeMs, ...(unreadable ? { unreadable } : {}) });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async changedFiles(ignore: (path: string) => boolean = () => false): Promise<FileChanges> {
    if (!this.options.baseline)
      throw new SeedforkError('this guest has no listing of its snapshot to compare its files with');
    const now = await this.guest.agent.exec(listingCommand());
    const changes = diffListings(parseListing(this.options.baseline()), parseListing(now.stdout), ignore);
    const mounts = this.options.mounts ?? [];
    const mountPoints = new Set(mounts.map((m) => m.path));
    for (const mount of mounts) {
      const { lower, seed, upper } = diskMountDirs(mount.device);
      const written = await this.guest.agent.exec(upperListingCommand(upper));
      const entries = parseUpperListing(written.stdout);
      const dirsWithEntries = new Set([...entries.keys()].map((p) => p.slice(0, p.lastIndexOf('/'))));
      for (const [rel, type] of entries) {
        const path = `${mount.path}/${rel}`;
        if (mountPoints.has(path) || ignore(type === 'd' ? `${path}/` : path)) continue;
        // there before: on the disk, or written by the seed
        const onDisk =
          (await this.guest.agent.exists(`${lower}/${rel}`)) ||
          (await this.guest.agent.exists(`${seed}/${rel}`));
        if (type === 'c') changes.deleted.push(path);
        else if (type === 'd') {
          if (!onDisk && !dirsWithEntries.has(rel)) changes.created.push(`${path}/`);
        } else (onDisk ? changes.changed : changes.created).push(path);
      }
    }
    for (const list of [changes.created, changes.changed, changes.deleted]) list.sort();
    return changes;
  }

  async listeningSockets(): Promise<ListeningSocket[]> {
    const read = async (name: string) => (await this.readFile(`/proc/net/${name}`))?.toString() ?? '';
    return [...parseListeningSockets(await read('tcp')), ...parseListeningSockets(await read('tcp6'))];
  }

  async processes(): Promise<SandboxProcess[]> {
    const agent = this.guest.agent;
    const out: SandboxProcess[] = [];
    for (const entry of (await agent.listDir('/proc')) ?? []) {
      if (!/^\d+$/.test(entry) || entry === '1') continue;
      const stat = (await agent.readFile(`/proc/${entry}/stat`))?.toString();
      if (!stat) continue; // gone meanwhile
      const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(afterComm[1]);
      if (entry === '2' || ppid === 2) continue; // kernel threads: the guest's, not the sandbox's
      const cmdline = (await agent.readFile(`/proc/${entry}/cmdline`))?.toString() ?? '';
      const command = cmdline
        ? cmdline.replace(/\0$/, '').split('\0').join(' ')
        : `[${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}]`;
      out.push({ pid: Number(entry), command });
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  /** Keep the guest running after seedfork exits, for `seedfork shell` (its QEMU stays, see qemu.ts WATCHER). */
  async keep(shell?: { cwd: string; env: Record<string, string> }): Promise<void> {
    if (this.killed || this.exitedBy)
      throw new SeedforkError(`sandbox ${this.id} cannot be kept: ${this.exitedBy ?? 'it was killed'}`);
    if (!this.options.onKeep) throw new SeedforkError(`sandbox ${this.id} cannot be kept (a seed's guest)`);
    this.options.onKeep(shell);
  }

  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    await this.guest.kill(); // running commands end with it: their processes report SIGKILL
    this.children.clear();
    await this.options.onKill?.();
  }
}

/** A sandbox's log directory under its run directory. */
export function guestLogDir(runDir: string): string {
  return join(runDir, 'logs');
}
