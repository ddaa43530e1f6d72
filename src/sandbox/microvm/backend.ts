import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { pruneSnapshots, recordSize, registerUse, removeSnapshot } from '../snapshot-retention.js';
import type {
  AttachCommand,
  Backend,
  CreateSnapshotOptions,
  GcOptions,
  GcReport,
  ResourceLimits,
  SandboxSummary,
  Snapshot,
} from '../types.js';
import type { AttachSpec } from './attach.js';
import { listingCommand } from './guest-changes.js';
import { requireHostTools } from './host-tool.js';
import { currentOwner, type OwnerId, ownerAlive, ownerPid, processRunning, waitUntilGone } from './owner.js';
import { cachedDisk, writeProjectDisk } from './project-disk.js';
import { chooseAccelerator, keepFile, qemuBinary } from './qemu.js';
import { BASE_PACKAGES } from './root-image.js';
import { GuestSandbox, guestLogDir } from './sandbox.js';
import {
  agentPath,
  dataDevice,
  type GuestAssets,
  guestAssets,
  microvmCacheDir,
  type ProjectDisk,
  VmSnapshot,
} from './vm-snapshot.js';

/** The guests' shape and contents (config `microvm`). */
export interface MicrovmOptions {
  /** Guest memory in MiB (default 1024). Each fork maps the snapshot's: it uses what it touches. */
  memoryMiB?: number;
  /** Virtual CPUs per guest (default 1). */
  cpus?: number;
  /** Debian kernel package (default linux-image-cloud-amd64). */
  kernel?: string;
  /** `auto`: KVM where it is hardware KVM, else TCG (software emulation). */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** Debian packages the guest needs beyond the base ones (redis-server for a redis service). */
  packages?: string[];
}

/** A sandbox's record in its directory (`meta.json`). */
interface GuestMeta {
  id: string;
  owner: OwnerId;
  createdAt: string;
  /** Pid of the shell QEMU runs under (qemu.ts WATCHER): killing it kills the guest. */
  watcherPid?: number;
  /** Directory of the guest's agent and QMP sockets. */
  socketDir?: string;
  /** The agent's next job id when the guest was forked (a shell starts far above it). */
  firstJob?: number;
  /** Kept for `seedfork shell`: it outlives its seedfork process. */
  kept?: boolean;
}

/** The program `seedfork shell` runs to reach a guest's agent. */
const ATTACH = fileURLToPath(new URL('./attach.js', import.meta.url));

/**
 * Entries of the project's top directory left out of its disk: seedfork's state, VCS data, and
 * node_modules (a disk of its own, cached across runs).
 */
const PROJECT_SKIP = ['.git', '.hg', '.svn', '.seedfork', 'node_modules'];

/**
 * The node_modules directories Node.js resolves packages from for code in `dir`: `dir`'s own and
 * every ancestor's (npm, yarn and pnpm workspaces hoist packages to the workspace root's).
 * Source: Node.js docs, "Modules: loading from node_modules folders".
 */
export function nodeModulesDirs(dir: string): string[] {
  const out: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) out.push(candidate);
    if (dirname(at) === at) return out;
  }
}

/**
 * The microvm backend: each sandbox is a QEMU guest with a kernel of its own, restored from a
 * snapshot of a seeded, running guest (src/sandbox/microvm/vm-snapshot.ts). Services started by
 * the seed keep running in every fork: nothing is started again. The project reaches each
 * guest as a disk image written once per run, mounted at the project's path.
 *
 * State lives under `<stateDir>/microvm`: `snapshots/<key>-<guest>/` (memory, device state,
 * disk, the listing of its files), `sandboxes/<id>/` (one per live guest), `runs/<owner>/` (the
 * run's project disk). Kernels, root images and node_modules disks are cached per user
 * (microvmCacheDir).
 */
export class MicrovmBackend implements Backend {
  readonly name = 'microvm';
  readonly forksKeepProcesses = true;
  private readonly root: string;
  private readonly owner = currentOwner();
  private assets: Promise<GuestAssets> | undefined;
  private runDisks: Promise<ProjectDisk[]> | undefined;
  private readonly snapshots = new Map<string, VmSnapshot>();
  private cleanupRegistered = false;

  /**
   * @param stateDir the project's state directory
   * @param options.ownDirs the project (the first is shown in every guest at its own path)
   * @param options.onNotice told which accelerator guests run on, and when a guest root image
   *   is being built (a minute or more)
   */
  constructor(
    private readonly stateDir: string,
    private readonly options: {
      ownDirs?: string[];
      microvm?: MicrovmOptions;
      onNotice?: (message: string) => void;
    } = {},
  ) {
    this.root = join(stateDir, 'microvm');
  }

  private get size() {
    return { memoryMiB: this.options.microvm?.memoryMiB ?? 1024, cpus: this.options.microvm?.cpus ?? 1 };
  }

  /**
   * @throws SeedforkError on a machine that is not x86-64, when QEMU, qemu-img or the agent is
   *   missing, or KVM is asked for and this machine has no hardware KVM
   */
  async preflight(): Promise<void> {
    if (process.arch !== 'x64') {
      // its guest is Debian's amd64 kernel under qemu-system-x86_64, with an x86-64 agent as PID 1
      throw new SeedforkError(
        `the microvm backend runs x86-64 guests only, and this machine is ${process.arch}`,
        {
          hint: 'Use the namespace backend here (--isolation namespace, the default).',
        },
      );
    }
    qemuBinary();
    requireHostTools(['qemu-img', 'setpriv', 'mkfs.ext4', 'debugfs']);
    agentPath();
    chooseAccelerator(this.options.microvm?.accel);
  }

  /** The kernel, initramfs and root image (built once per user and set of packages). */
  private guestAssets(): Promise<GuestAssets> {
    const notice = this.options.onNotice;
    this.assets ??= guestAssets({
      packages: [...new Set([...BASE_PACKAGES, ...(this.options.microvm?.packages ?? [])])],
      ...(this.options.microvm?.kernel ? { kernel: this.options.microvm.kernel } : {}),
      accel: this.options.microvm?.accel ?? 'auto',
      onBuild: (what) => notice?.(`building ${what}`),
    }).then((assets) => {
      const { accel, reason } = assets.accel;
      notice?.(
        `microvm guests run on ${accel === 'kvm' ? 'KVM' : 'TCG (software emulation)'}${reason ? `: ${reason}` : ''}`,
      );
      return assets;
    });
    return this.assets;
  }

  /** The project, then the node_modules directories its code resolves packages from. */
  private get mountPaths(): string[] {
    const project = this.options.ownDirs?.[0];
    return project ? [project, ...nodeModulesDirs(project)] : [];
  }

  /**
   * A snapshot's directory: its key and what its guest is made of (kernel, image, agent, size,
   * the paths its disks are mounted at).
   */
  private async snapshotDir(key: string): Promise<string> {
    const a = await this.guestAssets();
    const guest = createHash('sha256')
      .update(
        JSON.stringify([
          a.kernel.vmlinux,
          a.image.path,
          a.initramfs,
          a.accel.accel,
          this.size,
          this.mountPaths,
        ]),
      )
      .digest('hex')
      .slice(0, 12);
    return join(this.root, 'snapshots', `${key}-${guest}`);
  }

  async openSnapshot(key: string): Promise<Snapshot | undefined> {
    const dir = await this.snapshotDir(key);
    const vm = VmSnapshot.open(await this.guestAssets(), dir, this.size);
    if (!vm) return undefined;
    try {
      registerUse(dir, this.owner); // gc keeps it while this process lives
    } catch {
      return undefined; // pruned meanwhile
    }
    this.snapshots.set(key, vm);
    return { key, createdAt: vm.createdAt, layers: [] };
  }

  async deleteSnapshot(key: string): Promise<boolean> {
    if (!/^[\w.-]+$/.test(key) || key.startsWith('.')) return false;
    this.snapshots.delete(key);
    return removeSnapshot(await this.snapshotDir(key), {
      self: this.owner,
      isLive: async (owner) => ownerAlive(owner),
    });
  }

  /**
   * Boot a guest with the project mounted, run `build` in it, and save it running: what `build`
   * started (services) runs on in every fork, and what it wrote in the project is kept. With
   * `shareNetwork` the seed guest has a network (QEMU's user-mode network: what the host
   * reaches); its forks have the device with nothing behind it. Two runs building one key at
   * once both build; the first to finish is kept.
   * @throws SeedforkError when the guest does not boot, `build` fails, or saving fails
   */
  async createSnapshot(options: CreateSnapshotOptions): Promise<Snapshot> {
    const final = await this.snapshotDir(options.key);
    const building = `${final}.building-${this.owner.replace(':', '-')}`;
    const assets = await this.guestAssets();
    const mounts = await this.disks();
    const logs = join(building, 'seed-logs');
    let seedSandbox: GuestSandbox | undefined;
    const vm = await VmSnapshot.create(
      assets,
      building,
      this.size,
      async (guest) => {
        seedSandbox = new GuestSandbox(guest, { id: 'seed', logDir: logs });
        await options.build(seedSandbox);
      },
      {
        mounts,
        ...(options.shareNetwork ? { network: true } : {}),
        beforeSave: async (guest) => {
          const listing = await guest.agent.exec(listingCommand());
          writeFileSync(join(building, 'files.list'), listing.stdout);
          writeFileSync(join(building, 'logs.json'), JSON.stringify(seedSandbox?.runningLogged() ?? []));
        },
      },
    );
    try {
      recordSize(building);
      renameSync(building, final);
    } catch {
      vm.remove(); // another run finished the same snapshot first: use that one
    }
    const snapshot = await this.openSnapshot(options.key);
    if (!snapshot) throw new SeedforkError(`the microvm snapshot ${final} vanished as it was made`);
    return snapshot;
  }

  /**
   * The run's disks: the project's files as they are now, written once per run (`.git`,
   * node_modules and seedfork's state left out) and removed when this process exits; then a
   * disk of each node_modules directory, cached across runs until its files change.
   */
  private disks(): Promise<ProjectDisk[]> {
    const [project, ...dependencies] = this.mountPaths;
    this.runDisks ??= (async () => {
      if (!project) return [];
      const runDir = join(this.root, 'runs', this.owner.replace(':', '-'));
      mkdirSync(runDir, { recursive: true });
      this.removeOnExit(runDir);
      const disk = join(runDir, 'project.ext4');
      // the state directory (snapshots, sandboxes, this very disk) is no part of the project
      const state = relative(project, this.stateDir);
      const inside = state !== '' && !state.startsWith('..') && !isAbsolute(state);
      await writeProjectDisk(project, disk, [...PROJECT_SKIP, ...(inside ? [state] : [])]);
      const cached = await Promise.all(
        dependencies.map((d) => cachedDisk(d, join(microvmCacheDir(), 'dependencies'))),
      );
      return [{ disk, mountAt: project }, ...dependencies.map((d, i) => ({ disk: cached[i]!, mountAt: d }))];
    })();
    return this.runDisks;
  }

  private removeOnExit(dir: string): void {
    if (this.cleanupRegistered) return;
    this.cleanupRegistered = true;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }

  /**
   * A guest restored from `snapshot` with the run's project disk mounted. Its limits are the
   * guest's memory and CPUs (config `microvm`); of `limits`, only the output limit applies.
   * @throws SeedforkError when there is no snapshot (microvm guests always come from one) or
   *   the restore fails
   */
  async fork(
    snapshot: Snapshot | undefined,
    options: { limits?: ResourceLimits } = {},
  ): Promise<GuestSandbox> {
    const vm = snapshot && this.snapshots.get(snapshot.key);
    if (!vm) throw new SeedforkError('a microvm sandbox is forked from a snapshot this backend opened');
    const mounts = await this.disks();
    const id = randomBytes(6).toString('hex');
    const dir = join(this.root, 'sandboxes', id);
    mkdirSync(dir, { recursive: true });
    const meta: GuestMeta = { id, owner: this.owner, createdAt: new Date().toISOString() };
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    const guest = await vm.fork(join(dir, 'guest'), { mounts }).catch((error) => {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    });
    Object.assign(meta, {
      watcherPid: guest.process.pid,
      socketDir: guest.socketDir,
      firstJob: guest.agent.nextJobId,
    });
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    const sandbox = new GuestSandbox(guest, {
      id,
      logDir: guestLogDir(dir),
      ...(options.limits ? { limits: options.limits } : {}),
      baseline: () => readFileSync(join(vm.dir, 'files.list'), 'utf8'),
      mounts: mounts.map((m, i) => ({ device: dataDevice(i), path: m.mountAt })),
      onKill: () => rmSync(dir, { recursive: true, force: true }),
      onKeep: (shell) => {
        if (shell) writeFileSync(join(dir, 'env.json'), JSON.stringify(shell));
        writeFileSync(keepFile(join(dir, 'guest')), '');
        writeFileSync(join(dir, 'meta.json'), JSON.stringify({ ...meta, kept: true }));
      },
    });
    try {
      sandbox.adoptLogs(JSON.parse(readFileSync(join(vm.dir, 'logs.json'), 'utf8')));
    } catch {
      // a snapshot with no services
    }
    return sandbox;
  }

  /** Kept guests and those of running seedfork processes. */
  async list(): Promise<SandboxSummary[]> {
    return this.liveGuests().map(({ meta }) => ({
      id: meta.id,
      kept: meta.kept === true,
      ownerPid: ownerPid(meta.owner),
      createdAt: meta.createdAt,
    }));
  }

  /**
   * A host command that reaches the guest's agent (src/sandbox/microvm/attach.ts) and runs
   * `argv` there, or an interactive shell on a pseudo-terminal of the guest, at the directory and
   * with the environment its tests had when it was kept.
   * @throws SeedforkError when there is no live guest `id`
   */
  async attach(id: string, argv: string[]): Promise<AttachCommand> {
    const found = this.liveGuests().find(({ meta }) => meta.id === id);
    if (!found?.meta.socketDir)
      throw new SeedforkError(`no live microvm sandbox '${id}' under ${this.root}`, {
        hint: 'List kept sandboxes with `seedfork list`; run with --keep-failed to keep failed ones.',
      });
    let shell = { cwd: '/', env: {} as Record<string, string> };
    try {
      shell = JSON.parse(readFileSync(join(found.dir, 'env.json'), 'utf8'));
    } catch {
      // kept without its tests' environment: the agent's own
    }
    const spec: AttachSpec = {
      cwd: shell.cwd,
      env: { ...shell.env, TERM: process.env.TERM ?? 'xterm', PS1: `[sandbox ${id}] \\w# ` },
      argv,
      // far above the ids of the run that made the guest, and apart for each shell
      firstJob: 0x40000000 + (process.pid % 0x10000) * 0x1000,
    };
    return {
      argv: [process.execPath, ATTACH, join(found.meta.socketDir, 'agent.sock'), JSON.stringify(spec)],
      env: process.env as Record<string, string>,
    };
  }

  /**
   * Remove what ended runs left: guests whose seedfork process is gone (QEMU killed, files
   * removed), kept ones too with `includeKept`, project disks of ended runs, snapshot builds
   * that never finished, and with `snapshotBudgetBytes` the least recently used snapshots
   * beyond it (never one in use, nor one of `keepSnapshots`).
   */
  async gc(options: GcOptions = {}): Promise<GcReport> {
    const report: GcReport = { sandboxes: [], cgroups: [], snapshotsInProgress: [], snapshots: [] };
    for (const { dir, meta } of this.sandboxMetas()) {
      const alive = processRunning(meta?.watcherPid);
      if (meta?.kept ? alive && !options.includeKept : ownerAlive(meta?.owner)) continue;
      if (alive) await killGuest(dir, meta!.watcherPid!);
      if (meta?.socketDir?.startsWith(join(tmpdir(), 'seedfork-vm-')))
        rmSync(meta.socketDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
      report.sandboxes.push(meta?.id ?? dir);
    }
    for (const name of list(join(this.root, 'runs')))
      if (!ownerAlive(ownerOfName(name)))
        rmSync(join(this.root, 'runs', name), { recursive: true, force: true });
    for (const name of list(join(this.root, 'snapshots'))) {
      if (!name.includes('.building-')) continue;
      const dir = join(this.root, 'snapshots', name);
      if (ownerAlive(ownerOfName(name.slice(name.indexOf('.building-') + '.building-'.length)))) continue;
      rmSync(dir, { recursive: true, force: true });
      report.snapshotsInProgress.push(name);
    }
    if (options.snapshotBudgetBytes !== undefined)
      report.snapshots = await pruneSnapshots(join(this.root, 'snapshots'), {
        keep: options.keepSnapshots ?? [],
        budgetBytes: options.snapshotBudgetBytes,
        isLive: async (owner) => ownerAlive(owner),
        keyOf: (name) => name.slice(0, name.lastIndexOf('-')),
      });
    return report;
  }

  /** Every sandbox directory, with its record (undefined where it is missing or unreadable). */
  private sandboxMetas(): { dir: string; meta: GuestMeta | undefined }[] {
    const root = join(this.root, 'sandboxes');
    return list(root).map((id) => {
      const dir = join(root, id);
      try {
        return { dir, meta: JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as GuestMeta };
      } catch {
        return { dir, meta: undefined };
      }
    });
  }

  /** The guests of {@link sandboxMetas} whose QEMU still runs (kept, or of a live run). */
  private liveGuests(): { dir: string; meta: GuestMeta }[] {
    return this.sandboxMetas().filter(
      (s): s is { dir: string; meta: GuestMeta } =>
        s.meta !== undefined &&
        processRunning(s.meta.watcherPid) &&
        (s.meta.kept === true || ownerAlive(s.meta.owner)),
    );
  }
}

function list(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * The owner a directory is named after (`<pid>-<start time>`, as `building-…` and `runs/…`
 * are): named at creation, so gc never takes a live run's directory for an orphan.
 */
function ownerOfName(name: string): OwnerId {
  return name.replace('-', ':');
}

/**
 * Kill the guest whose QEMU runs under watcher `pid` (qemu.ts WATCHER), if that pid still is
 * the watcher of a guest in `dir` (its command line names the guest's files): QEMU dies with it.
 */
async function killGuest(dir: string, pid: number): Promise<void> {
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) return;
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // gone
  }
  await waitUntilGone([pid]);
}
