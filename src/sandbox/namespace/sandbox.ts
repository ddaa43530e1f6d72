import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatSize } from '../../config/size.js';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { diskSpace } from '../../fs/disk-space.js';
import { alive } from '../../locks/process-alive.js';
import { MAX_OUTPUT_BYTES, runToCompletion, spawnService } from '../exec.js';
import { findFilesIn } from '../find-files.js';
import { hostFiles, resolveInRoot } from '../host-files.js';
import { type ListeningSocket, readListeningSockets } from '../proc-net.js';
import { removeTree } from '../remove-tree.js';
import type {
  Confinement,
  ExecOptions,
  ExecResult,
  FileChanges,
  FoundFile,
  LimitHit,
  ProcessTemplate,
  ResourceLimits,
  Sandbox,
  SandboxProcess,
  SpawnedProcess,
  SpawnOptions,
} from '../types.js';
import {
  type CgroupLayout,
  type CgroupScope,
  createSandboxCgroup,
  destroySandboxCgroup,
  type LimitCounters,
  limitCounters,
  removeRunCgroup,
} from './cgroup.js';
import { helperPath } from './helper.js';
import { namespaceProcesses, overlayChanges } from './inspect.js';
import { ServedProcess } from './served-process.js';
import { type Reply, Zygote } from './zygote.js';

/** What `sandboxes/<id>/meta.json` records, so `seedfork shell` and `seedfork gc` can find it. */
export interface SandboxMeta {
  id: string;
  /** Host PID of the sandbox's PID 1. */
  initPid: number;
  /** Host PID of the helper process that watches seedfork and kills the sandbox when it goes away. */
  helperPid: number;
  /** PID of the seedfork process that made it. */
  ownerPid: number;
  /** The run (its lock under `<stateDir>/runs/`) that made it: `gc` leaves it alone while held. */
  runId: string;
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
  /** Project and run whose cgroup parent the sandbox's cgroup goes under. */
  scope: CgroupScope;
  limits: ResourceLimits;
  /** How commands are confined; default: hardened, nothing extra allowed. */
  confinement?: Confinement;
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
 * Where a sandbox is in its life. `start` makes a `running` one; `keep` makes it `kept`
 * (it outlives seedfork); `kill` goes through `killing` to `killed`; a sandbox whose init died
 * on its own is `dead`, with the cause. Commands run only in `running` and `kept` sandboxes.
 */
export type SandboxState =
  | { name: 'running' }
  | { name: 'kept' }
  | { name: 'killing' }
  | { name: 'killed' }
  | { name: 'dead'; cause: string };

/** Which states each state may move to (see {@link SandboxState}). */
/**
 * The bridge connect() starts in a sandbox (run by `node -e`, argv: socket path, port): a Unix
 * socket server whose every connection is joined to 127.0.0.1:port; prints `ready` once it
 * listens.
 */
const PORT_BRIDGE = `
const net = require('node:net');
const [path, port] = process.argv.slice(1);
try { require('node:fs').unlinkSync(path); } catch {}
net.createServer((client) => {
  const target = net.connect(Number(port), '127.0.0.1');
  client.pipe(target).pipe(client);
  target.on('error', () => client.destroy());
  client.on('error', () => target.destroy());
}).listen(path, () => console.log('ready'));
`;

const TRANSITIONS: Record<SandboxState['name'], SandboxState['name'][]> = {
  running: ['kept', 'killing', 'dead'],
  kept: ['killing', 'dead'],
  dead: ['killing'],
  killing: ['killed'],
  killed: [],
};

/** What a sandbox needs to know about itself after it started. */
interface SandboxParts {
  id: string;
  dir: string;
  initPid: number;
  monitorPid: number;
  cgroupDirs: string[];
  meta: SandboxMeta;
  /** Host directory of the copy-on-write upper layer. */
  upper: string;
  /** Host directories of the snapshot's layers, top-most first. */
  layers: string[];
  limits: ResourceLimits;
  confinement: Confinement;
  cgroups: CgroupLayout;
  scope: CgroupScope;
  /** The disk quota's tmpfs, when the sandbox has one. */
  quotaDir: string | undefined;
}

/**
 * A sandbox of the namespace backend. Its PID 1 and the helper process watching it are forked
 * by the {@link Zygote}; commands enter it with `seedfork-ns exec` through the same zygote.
 */
export class NamespaceSandbox implements Sandbox {
  readonly backend = 'namespace';
  readonly logDir: string;
  readonly id: string;
  readonly dir: string;
  readonly initPid: number;
  private state: SandboxState = { name: 'running' };
  private execs = 0;
  /** Port bridges started by connect(), by port: the host path of each one's Unix socket. */
  private readonly bridges = new Map<number, Promise<string>>();
  private gone: Promise<void> = Promise.resolve();
  /** The cgroup's limit counters when the sandbox was made (see {@link incidents}). */
  private readonly forkCounters: LimitCounters;
  private constructor(private readonly parts: SandboxParts) {
    this.forkCounters = limitCounters(parts.cgroupDirs);
    this.id = parts.id;
    this.dir = parts.dir;
    this.initPid = parts.initPid;
    this.logDir = join(parts.dir, 'logs');
  }

  /** Where the sandbox is in its life. */
  get lifecycle(): SandboxState {
    return this.state;
  }

  private moveTo(next: SandboxState): void {
    if (!TRANSITIONS[this.state.name].includes(next.name)) {
      throw new SeedforkError(`sandbox ${this.id} cannot go from ${this.state.name} to ${next.name}`);
    }
    this.state = next;
  }

  /** Resolves when the helper has said the sandbox is gone, or after `ms`. */
  private async settled(ms: number): Promise<void> {
    if (!alive(this.initPid)) await Promise.race([this.gone, new Promise((r) => setTimeout(r, ms))]);
  }

  /** The helper reported the sandbox gone: unless seedfork killed it, it died early. */
  private ended(reply: Reply): void {
    if (this.state.name !== 'running' && this.state.name !== 'kept') return;
    const code = reply.kind === 'exited' ? reply.code : undefined;
    const how =
      code === undefined
        ? 'the namespace helper exited'
        : code > 128
          ? `its init was killed by signal ${code - 128} from outside the sandbox`
          : `its init exited with code ${code}`;
    this.moveTo({ name: 'dead', cause: `sandbox ${this.id} died early: ${how}` });
  }

  /**
   * Create the namespaces, mounts and cgroup of a new sandbox and wait for its PID 1.
   * The sandbox directory appears atomically with its `run` file (made under a dot name and
   * renamed), so `gc` never sees one it cannot attribute to a run.
   * @throws SeedforkError with the helper's message when a mount or namespace fails; nothing
   *   is left behind in that case.
   */
  static async start(options: StartOptions & { runId: string }): Promise<NamespaceSandbox> {
    const id = options.id ?? newSandboxId();
    const dir = options.dir;
    const quotaDir =
      options.upper === undefined && !options.rootless && options.limits.diskBytes
        ? join(dir, 'disk')
        : undefined;
    const upper = options.upper ?? (quotaDir ? join(quotaDir, 'upper') : join(dir, 'upper'));
    const work = quotaDir ? join(quotaDir, 'work') : join(dir, 'work');
    const staging = join(dirname(dir), `.${id}.new`);
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, 'run'), options.runId);
    renameSync(staging, dir);
    for (const d of [join(dir, 'merged'), join(dir, 'logs'), ...(quotaDir ? [] : [upper, work])]) {
      mkdirSync(d, { recursive: true });
    }
    let cgroupDirs: string[] = [];
    let gone: Promise<void> | undefined;
    let sandbox: NamespaceSandbox | undefined;
    try {
      cgroupDirs = createSandboxCgroup(options.cgroups, options.scope, id, options.limits);
      const args = ['start', '--hostname', `sf-${id}`];
      for (const layer of [...options.layers, '/']) args.push('--lower', layer);
      args.push('--upper', upper, '--work', work, '--merged', join(dir, 'merged'));
      for (const c of cgroupDirs) args.push('--cgroup', c);
      for (const h of options.hide) args.push('--hide', h);
      if (options.shareNetwork) args.push('--share-net');
      if (options.rootless) args.push('--userns');
      if (quotaDir) args.push('--quota-dir', quotaDir);
      if (options.limits.diskBytes) args.push('--quota-bytes', String(options.limits.diskBytes));
      for (const d of options.ownDirs ?? []) args.push('--own-dir', d);
      let monitorPid = 0;
      let settle: { resolve(pid: number): void; reject(error: Error): void } | undefined;
      const ready = new Promise<number>((resolve, reject) => {
        settle = { resolve, reject };
      });
      gone = Zygote.get().request(args, (reply) => {
        switch (reply.kind) {
          case 'pid':
            monitorPid = reply.pid;
            return false;
          case 'ready':
            settle?.resolve(reply.initPid);
            return false;
          case 'error':
            settle?.reject(explainStartFailure(reply.message));
            return false;
          case 'exited':
          case 'lost':
            settle?.reject(explainStartFailure(''));
            sandbox?.ended(reply);
            return true;
          default:
            return false;
        }
      });
      const initPid = await ready;
      const meta: SandboxMeta = {
        id,
        initPid,
        helperPid: monitorPid,
        ownerPid: process.pid,
        runId: options.runId,
        kept: false,
        createdAt: new Date().toISOString(),
        cgroups: cgroupDirs,
        snapshot: options.snapshot,
      };
      writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
      sandbox = new NamespaceSandbox({
        id,
        dir,
        initPid,
        monitorPid,
        cgroupDirs,
        meta,
        upper,
        layers: options.layers,
        limits: options.limits,
        cgroups: options.cgroups,
        scope: options.scope,
        confinement: options.confinement ?? {},
        quotaDir,
      });
      sandbox.gone = gone;
      return sandbox;
    } catch (error) {
      await gone;
      await destroySandboxCgroup(cgroupDirs).catch(() => {});
      removeRunCgroup(options.cgroups, options.scope);
      removeTree(dir);
      throw error;
    }
  }

  get tracesBinds(): boolean {
    return this.parts.confinement.harden !== false;
  }

  private helperArgs(options: {
    cwd?: string;
    user?: string;
    pgroup?: boolean;
    capOutput?: boolean;
    traceBinds?: string;
  }): string[] {
    const { cgroupDirs, confinement, limits } = this.parts;
    const args = ['--pid', String(this.initPid), '--cwd', options.cwd ?? '/'];
    for (const c of cgroupDirs) args.push('--cgroup', c);
    if (options.user) args.push('--user', options.user);
    if (options.pgroup) args.push('--pgroup');
    args.push(...confinementArgs(confinement));
    if (options.traceBinds && this.tracesBinds) args.push('--trace-binds', options.traceBinds);
    if (options.capOutput && limits.outputBytes) args.push('--max-output', String(limits.outputBytes));
    return args;
  }

  /**
   * Run a command to completion through the zygote, its output going to a file in the
   * sandbox directory (read back, up to MAX_OUTPUT_BYTES, when it exits). Commands whose
   * stdio is inherited or an fd, or with an empty argument, are spawned directly instead.
   * The result names the limit the command ran into, if any (`limit`).
   */
  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertUsable();
    const stdio = options.stdio ?? 'pipe';
    if ((stdio !== 'pipe' && stdio !== 'ignore') || argv.some((a) => a === '')) {
      return runToCompletion([helperPath(), 'exec', ...this.helperArgs(options), '--', ...argv], options);
    }
    const started = performance.now();
    const n = ++this.execs;
    const out = stdio === 'pipe' ? join(this.dir, `exec-${n}.out`) : '-';
    const limitFile = join(this.dir, `exec-${n}.limit`);
    const before = limitCounters(this.parts.cgroupDirs);
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
    const capArgs = out !== '-' ? ['--limit-file', limitFile] : [];
    try {
      await Zygote.get().request(
        [
          'exec',
          out,
          ...clearedEnv(options.env),
          ...this.helperArgs({ ...options, capOutput: out !== '-' }),
          ...capArgs,
          '--',
          ...argv,
        ],
        (reply) => {
          if (reply.kind === 'pid') {
            pid = reply.pid;
            if (stop) killQuietly(pid);
            return false;
          }
          if (reply.kind === 'exit') exitCode = reply.code;
          return true; // exit, or an error/lost reply: nothing more will come
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
    const limit = this.limitReached(before, limitFile);
    // The init's death reaches us on another line of the helper: give it a moment to arrive.
    if (exitCode === 137 && !timedOut && !stop) await this.settled(200);
    const state = this.state;
    return {
      exitCode: timedOut ? 124 : exitCode,
      output,
      durationMs: performance.now() - started,
      timedOut,
      ...(limit ? { limit } : {}),
      ...(state.name === 'dead' ? { sandboxDied: state.cause } : {}),
    };
  }

  /** The limit a command that just ended ran into: output (the helper says so in the limit
   * file), memory and pids (the cgroup's counters moved), disk (the quota is full). */
  private limitReached(before: LimitCounters, limitFile?: string): LimitHit | undefined {
    const { limits, cgroupDirs, quotaDir } = this.parts;
    let recorded = '';
    if (limitFile) {
      try {
        recorded = readFileSync(limitFile, 'utf8').trim();
      } catch {
        // the command never started
      }
      rmSync(limitFile, { force: true });
    }
    const [name, value] = recorded.split(' ');
    if (name === 'output') {
      const bytes = Number(value);
      return {
        name: 'output',
        value: bytes,
        message: `stopped at the output limit (limits.output = ${formatSize(bytes)}): it wrote more than that`,
      };
    }
    const after = limitCounters(cgroupDirs);
    if (after.oomKills > before.oomKills && limits.memoryBytes) {
      return {
        name: 'memory',
        value: limits.memoryBytes,
        message: `the memory limit (limits.memory = ${formatSize(limits.memoryBytes)}) was reached: the kernel's OOM killer ended ${after.oomKills - before.oomKills} process(es)`,
      };
    }
    if (after.pidsRefused > before.pidsRefused && limits.pids) {
      return {
        name: 'pids',
        value: limits.pids,
        message: `the process limit (limits.pids = ${limits.pids}) was reached: ${after.pidsRefused - before.pidsRefused} fork(s) failed with EAGAIN`,
      };
    }
    if (quotaDir && limits.diskBytes) {
      const space = diskSpace(quotaDir); // undefined: the sandbox is gone
      if (space && space.freeBytes < Math.max(space.blockBytes * 2, limits.diskBytes / 1000)) {
        return {
          name: 'disk',
          value: limits.diskBytes,
          message: `the disk quota (limits.disk = ${formatSize(limits.diskBytes)}, the sandbox's writes and /tmp together) is full: writes failed with ENOSPC`,
        };
      }
    }
    return undefined;
  }

  async incidents(): Promise<{ limit?: LimitHit; died?: string }> {
    const limit = this.limitReached(this.forkCounters);
    // the init's death reaches us on another line of the helper: give it a moment to arrive
    await this.settled(200);
    const state = this.state;
    return { ...(limit ? { limit } : {}), ...(state.name === 'dead' ? { died: state.cause } : {}) };
  }

  spawn(argv: string[], options: SpawnOptions): SpawnedProcess {
    this.assertUsable();
    // output to a log is capped (limits.output); pipes carry a protocol, which a cap would cut
    const capOutput = options.logFile !== undefined;
    const channel = options.channel === true && !capOutput;
    const args = this.helperArgs({ ...options, pgroup: true, capOutput });
    // a service writing to its log: the helper starts it, without a fork of this process
    if (options.logFile !== undefined && argv.every((a) => a !== '' && !a.includes('\0'))) {
      return new ServedProcess(Zygote.get(), [
        'exec',
        `>>${options.logFile}`,
        ...clearedEnv(options.env),
        ...args,
        '--',
        ...argv,
      ]);
    }
    if (channel) args.push('--channel');
    return spawnService([helperPath(), 'exec', ...args, '--', ...argv], {
      env: options.env,
      logFile: options.logFile,
      channel,
    });
  }

  spawnFrom(template: ProcessTemplate, options: SpawnOptions): SpawnedProcess {
    this.assertUsable();
    const args = this.helperArgs({ ...options, pgroup: true });
    // the environment travels as options: the template's helper is forked, not spawned with one
    args.push(...clearedEnv(options.env));
    return template.fork(args);
  }

  // File methods resolve symbolic links inside the sandbox's root (resolveInRoot), so a link a
  // test planted never makes seedfork read or write a host file.
  async readFile(path: string, options?: { maxBytes?: number }): Promise<Buffer | undefined> {
    const maxBytes = options?.maxBytes;
    return maxBytes === undefined
      ? hostFiles.read(this.safeHostPath(path))
      : hostFiles.read(this.safeHostPath(path), maxBytes, 'throw');
  }

  async writeFile(path: string, data: string | Buffer, options?: { mode?: number }): Promise<void> {
    return hostFiles.write(this.safeHostPath(path), data, options);
  }

  async makeDir(
    path: string,
    options?: { mode?: number; owner?: { uid: number; gid: number } },
  ): Promise<void> {
    return hostFiles.makeDir(this.safeHostPath(path), options);
  }

  async exists(path: string): Promise<boolean> {
    return hostFiles.exists(this.safeHostPath(path));
  }

  /** The link itself is made in its directory as resolved inside the sandbox; its target is
   * stored as given, so that it resolves inside the sandbox too. */
  async symlink(target: string, path: string): Promise<void> {
    return hostFiles.symlink(target, join(this.safeHostPath(dirname(path)), basename(path)));
  }

  async findFiles(dir: string, patterns: readonly string[]): Promise<FoundFile[]> {
    return findFilesIn(this.safeHostPath(dir), patterns);
  }

  async changedFiles(ignore: (path: string) => boolean = () => false): Promise<FileChanges> {
    const alive = this.state.name === 'running' || this.state.name === 'kept';
    return overlayChanges(
      this.parts.upper,
      alive ? this.hostPath('/tmp') : undefined,
      this.parts.layers,
      ignore,
    );
  }

  async listeningSockets(): Promise<ListeningSocket[]> {
    return readListeningSockets(`/proc/${this.initPid}/net`);
  }

  async connect(port: number): Promise<Socket> {
    this.assertUsable();
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw new SeedforkError(`port must be a whole number from 1 to 65535, not ${port}`);
    let bridge = this.bridges.get(port);
    if (!bridge) {
      bridge = this.startBridge(port);
      this.bridges.set(port, bridge);
      bridge.catch(() => this.bridges.delete(port));
    }
    const path = await bridge;
    return new Promise((resolve, reject) => {
      const socket = netConnect({ path });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  /**
   * Start a process in the sandbox that listens on a Unix socket in its /tmp and joins each
   * connection to 127.0.0.1:`port` there; resolves with the socket's path as the host reaches
   * it (through /proc/<init>/root). It dies with the sandbox.
   */
  private async startBridge(port: number): Promise<string> {
    const inside = `/tmp/.seedfork-port-${port}.sock`;
    const child = this.spawn([process.execPath, '-e', PORT_BRIDGE, inside, String(port)], {
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
    });
    let said = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk) => {
        said += chunk;
        if (said.includes('ready')) resolve();
      });
      child.stderr?.on('data', (chunk) => {
        said += chunk;
      });
      child.once('exit', (code) =>
        reject(new SeedforkError(`the port bridge in sandbox ${this.id} exited (${code}): ${said.trim()}`)),
      );
    });
    return this.hostPath(inside);
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

  /** {@link hostPath} with symbolic links resolved inside the sandbox. */
  private safeHostPath(path: string): string {
    return resolveInRoot(`/proc/${this.initPid}/root`, path);
  }

  /** Keep the sandbox when seedfork exits: its watcher stops watching the lifeline. */
  async keep(shell?: { cwd: string; env: Record<string, string> }): Promise<void> {
    this.assertUsable();
    if (shell) writeFileSync(join(this.dir, 'env.json'), JSON.stringify(shell));
    process.kill(this.parts.monitorPid, 'SIGUSR1');
    this.moveTo({ name: 'kept' });
    this.parts.meta.kept = true;
    writeFileSync(join(this.dir, 'meta.json'), JSON.stringify(this.parts.meta, null, 2));
  }

  /** Kill every process, release the cgroup and the disk quota, and delete the sandbox
   * directory (and its upper layer). Safe to call twice. */
  async kill(): Promise<void> {
    if (this.state.name === 'killing' || this.state.name === 'killed') return this.gone;
    this.moveTo({ name: 'killing' });
    try {
      process.kill(this.initPid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.gone; // the watcher has unmounted the disk quota...
    // ...unless the helper died first: then its watcher outlives it; wait for it, or do its job.
    const deadline = Date.now() + 2000;
    while (alive(this.parts.monitorPid) && Date.now() < deadline) await sleep(10);
    if (this.parts.quotaDir) releaseQuotaMount(this.parts.quotaDir);
    await destroySandboxCgroup(this.parts.cgroupDirs);
    removeRunCgroup(this.parts.cgroups, this.parts.scope);
    // A seed sandbox's upper directory lives outside `dir` and becomes the snapshot layer.
    removeTree(this.dir);
    this.moveTo({ name: 'killed' });
  }

  private assertUsable(): void {
    const state = this.state;
    if (state.name === 'dead') throw new SeedforkError(state.cause);
    if (state.name !== 'running' && state.name !== 'kept') {
      throw new SeedforkError(`sandbox ${this.id} was already killed`);
    }
  }
}

/**
 * The host's mount points, from /proc/self/mountinfo (field 5, with space, tab, newline and
 * backslash unescaped from their octal escapes, proc(5)).
 */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))));
}

/** Unmount a sandbox's disk quota whose watcher died before it could (a no-op when not mounted). */
export function releaseQuotaMount(dir: string): void {
  if (mountPoints().includes(dir)) spawnSync(helperPath(), ['umount', dir], { stdio: 'ignore' });
}

/** The helper's `exec` arguments that confine a command (hardened unless `harden: false`). */
export function confinementArgs(confinement: Confinement = {}): string[] {
  if (confinement.harden === false) return [];
  return ['--harden', ...(confinement.allowSyscalls ?? []).flatMap((name) => ['--allow-syscall', name])];
}

/**
 * The options of `seedfork-ns exec` that give the command exactly `env` (none of the helper's
 * own environment), for requests to the helper, which is forked or served rather than spawned
 * with an environment.
 */
function clearedEnv(env: Record<string, string> | undefined): string[] {
  return ['--clear-env', ...Object.entries(env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`])];
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
