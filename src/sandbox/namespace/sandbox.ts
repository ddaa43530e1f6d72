import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { runToCompletion, spawnService } from '../exec.js';
import type { ExecOptions, ExecResult, ResourceLimits, Sandbox } from '../types.js';
import { type CgroupLayout, createSandboxCgroup, destroySandboxCgroup } from './cgroup.js';
import { helperPath } from './helper.js';
import { removeTree } from './remove.js';

/** What `sandboxes/<id>/meta.json` records, so `seedfork shell` and `seedfork gc` can find it. */
export interface SandboxMeta {
  id: string;
  /** Host PID of the sandbox's PID 1. */
  initPid: number;
  /** Host PID of the helper that watches seedfork and kills the sandbox when it goes away. */
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

/**
 * A sandbox of the namespace backend: a `seedfork-ns start` helper process whose child is the
 * sandbox's PID 1. Commands enter it with `seedfork-ns exec`.
 */
export class NamespaceSandbox implements Sandbox {
  readonly backend = 'namespace';
  readonly logDir: string;
  private killed = false;
  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly initPid: number,
    private readonly helper: ChildProcess,
    private readonly cgroupDirs: string[],
    private readonly meta: SandboxMeta,
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
    let helper: ChildProcess | undefined;
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
      helper = spawn(helperPath(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const initPid = await readReady(helper);
      const meta: SandboxMeta = {
        id,
        initPid,
        helperPid: helper.pid!,
        ownerPid: process.pid,
        kept: false,
        createdAt: new Date().toISOString(),
        cgroups: cgroupDirs,
        snapshot: options.snapshot,
      };
      writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
      return new NamespaceSandbox(id, dir, initPid, helper, cgroupDirs, meta);
    } catch (error) {
      helper?.kill('SIGKILL');
      if (helper) await exited(helper);
      await destroySandboxCgroup(cgroupDirs).catch(() => {});
      removeTree(dir);
      throw error;
    }
  }

  private execArgv(argv: string[], options: { cwd?: string; user?: string; pgroup?: boolean }): string[] {
    const args = [helperPath(), 'exec', '--pid', String(this.initPid), '--cwd', options.cwd ?? '/'];
    for (const c of this.cgroupDirs) args.push('--cgroup', c);
    if (options.user) args.push('--user', options.user);
    if (options.pgroup) args.push('--pgroup');
    return [...args, '--', ...argv];
  }

  exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.assertAlive();
    return runToCompletion(this.execArgv(argv, options), options);
  }

  spawn(
    argv: string[],
    options: Omit<ExecOptions, 'timeoutMs' | 'signal'> & { logFile: string },
  ): ChildProcess {
    this.assertAlive();
    return spawnService(this.execArgv(argv, { ...options, pgroup: true }), {
      env: options.env,
      logFile: options.logFile,
    });
  }

  hostPath(path: string): string {
    return `/proc/${this.initPid}/root${path.startsWith('/') ? path : `/${path}`}`;
  }

  procNet(file: string): string {
    return `/proc/${this.initPid}/net/${file}`;
  }

  async keep(): Promise<void> {
    this.assertAlive();
    this.helper.stdin?.write('keep\n');
    this.meta.kept = true;
    writeFileSync(join(this.dir, 'meta.json'), JSON.stringify(this.meta, null, 2));
    this.helper.stdin?.end();
    this.helper.unref();
    for (const s of [this.helper.stdin, this.helper.stdout, this.helper.stderr]) {
      (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
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
    this.helper.stdin?.end();
    await exited(this.helper);
    await destroySandboxCgroup(this.cgroupDirs);
    // A seed sandbox's upper directory lives outside `dir` and becomes the snapshot layer.
    removeTree(this.dir);
  }

  private assertAlive(): void {
    if (this.killed) throw new SeedforkError(`sandbox ${this.id} was already killed`);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function readReady(helper: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    helper.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const lines = createInterface({ input: helper.stdout! });
    let done = false;
    lines.once('line', (line) => {
      const m = /^ready (\d+)$/.exec(line);
      if (m) {
        done = true;
        lines.close();
        resolve(Number(m[1]));
      }
    });
    helper.once('error', (error) => {
      if (!done) reject(new SeedforkError(`cannot start the namespace helper: ${error.message}`));
      done = true;
    });
    helper.once('exit', () => {
      if (done) return;
      done = true;
      // stderr may still be draining; give it a tick.
      setImmediate(() => reject(explainStartFailure(stderr.trim())));
    });
  });
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
