import { spawnSync } from 'node:child_process';
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
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { alive } from '../../locks/process-alive.js';
import { removeTree } from '../remove-tree.js';
import { pruneSnapshots, recordSize, registerUse, removeSnapshot } from '../snapshot-retention.js';
import {
  type AttachCommand,
  type Backend,
  type Confinement,
  type CreateSnapshotOptions,
  DEFAULT_LIMITS,
  type GcOptions,
  type GcReport,
  type ResourceLimits,
  type SandboxSummary,
  type Snapshot,
} from '../types.js';
import {
  type CgroupScope,
  cgroupLayout,
  destroySandboxCgroup,
  listRunCgroups,
  removeRunCgroup,
  sandboxCgroupDirs,
} from './cgroup.js';
import { helperPath } from './helper.js';
import { namespacePreflight, type Privilege } from './preflight.js';
import { RunLock } from './run-lock.js';
import {
  confinementArgs,
  NamespaceSandbox,
  newSandboxId,
  releaseQuotaMount,
  type SandboxMeta,
} from './sandbox.js';

/** Read a sandbox's meta.json, or undefined when it is missing or unreadable. */
export function readSandboxMeta(dir: string): SandboxMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as SandboxMeta;
  } catch {
    return undefined;
  }
}

/**
 * The namespace backend: Linux mount/PID/net/UTS/IPC/cgroup/time namespaces, an overlayfs root
 * over frozen snapshot layers and the host, and cgroup v2 or v1 limits.
 *
 * State lives under `stateDir`: `snapshots/<key>/layer` (frozen upper layers) and
 * `sandboxes/<id>/` (one per live sandbox). `stateDir` is hidden inside every sandbox.
 */
export class NamespaceBackend implements Backend {
  readonly name = 'namespace';
  readonly forksKeepProcesses = false;
  private privilege: Privilege | undefined;
  private resolvedOwnDirs: string[] | undefined;
  private readonly runLock: RunLock;

  /**
   * @param stateDir where snapshots and sandboxes live (hidden inside sandboxes)
   * @param options.ownDirs directories that sandboxes work in (the project); see `ownDirs`.
   * @param options.confinement how commands in sandboxes are confined (default: hardened).
   */
  constructor(
    readonly stateDir: string,
    private readonly options: { ownDirs?: string[]; confinement?: Confinement } = {},
  ) {
    this.runLock = new RunLock(stateDir);
  }

  /** The cgroup parent of this process's sandboxes: its project, then its run. */
  private get scope(): CgroupScope {
    return { project: this.runLock.project, run: this.runLock.id };
  }

  /** Snapshots of root and rootless sandboxes differ in overlay xattrs, so they are kept apart. */
  get snapshotsDir(): string {
    return join(this.stateDir, this.privilege === 'rootless' ? 'snapshots-rootless' : 'snapshots');
  }

  get sandboxesDir(): string {
    return join(this.stateDir, 'sandboxes');
  }

  /**
   * Directories that get an overlay of their own in each sandbox, so the project is visible
   * and copy-on-write there. As root the root overlay shows only the root filesystem, and
   * /tmp, /run and /dev/shm are fresh tmpfs mounts; so a project below one of those gets the
   * top directory it sits in (/tmp/checkout: the whole checkout, node_modules included), and a
   * project on another filesystem gets that filesystem's mount point. Rootless: the project
   * and $HOME when the caller owns them (copy-up needs an owner the user namespace maps).
   * Worked out once, after preflight, not on every fork.
   */
  private get ownDirs(): string[] {
    this.resolvedOwnDirs ??= this.resolveOwnDirs();
    return this.resolvedOwnDirs;
  }

  private resolveOwnDirs(): string[] {
    const wanted = (this.options.ownDirs ?? []).filter((d) => existsSync(d));
    if (this.privilege !== 'rootless') {
      const rootDev = statSync('/').dev;
      const layered = new Set<string>();
      for (const dir of wanted) {
        const hidden = PRIVATE_MOUNTS.find((m) => dir.startsWith(`${m}/`));
        const top = hidden ? join(hidden, dir.slice(hidden.length + 1).split('/')[0]!) : undefined;
        if (top) layered.add(top);
        // Both can apply: a checkout under /tmp with the project on a filesystem mounted inside it.
        if (statSync(dir).dev !== (top ? statSync(top).dev : rootDev)) layered.add(mountPointOf(dir));
      }
      return [...layered];
    }
    const home = process.env.HOME;
    const dirs = [...wanted, ...(home && home !== '/' ? [home] : [])];
    return dirs.filter((d) => existsSync(d) && statSync(d).uid === process.getuid?.());
  }

  /**
   * @throws SeedforkError when namespaces cannot be made here, or when
   *   `confinement.allowSyscalls` names a call the sandbox does not refuse (a typo would
   *   otherwise fail every command).
   */
  async preflight(): Promise<void> {
    if (this.privilege === undefined) {
      this.privilege = namespacePreflight();
      const allowed = this.options.confinement?.allowSyscalls ?? [];
      if (allowed.length > 0) {
        const refused = spawnSync(helperPath(), ['syscalls'], { encoding: 'utf8' }).stdout.split('\n');
        const unknown = allowed.filter((name) => !refused.includes(name));
        if (unknown.length > 0) {
          throw new SeedforkError(
            `sandbox.allowSyscalls names calls the sandbox does not refuse: ${unknown.join(', ')}`,
            {
              hint: `Only these can be allowed: ${refused.filter(Boolean).join(', ')}.`,
            },
          );
        }
      }
    }
  }

  /** A cached snapshot, registered as used by this run (so `gc` keeps it while the run lives). */
  async openSnapshot(key: string): Promise<Snapshot | undefined> {
    await this.preflight();
    const dir = join(this.snapshotsDir, key);
    const read = (): Snapshot | undefined => {
      try {
        const meta = JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8')) as Snapshot;
        return existsSync(meta.layers[0] ?? '') ? meta : undefined;
      } catch {
        return undefined;
      }
    };
    if (!read()) return undefined;
    await this.runLock.hold();
    try {
      registerUse(dir, this.runLock.id);
    } catch {
      return undefined; // pruned meanwhile
    }
    return read(); // still there once registered: a gc deciding now sees the registration
  }

  /**
   * Build a snapshot: a seed sandbox over the bare host whose upper directory becomes the
   * snapshot's layer. Concurrent builders of the same key coordinate through a lock directory:
   * the second one waits and reuses the first one's result.
   */
  async createSnapshot(options: CreateSnapshotOptions): Promise<Snapshot> {
    await this.preflight();
    mkdirSync(this.snapshotsDir, { recursive: true });
    const building = join(this.snapshotsDir, `${options.key}.building`);
    await this.runLock.hold();
    for (;;) {
      const existing = await this.openSnapshot(options.key);
      if (existing) return existing;
      try {
        mkdirSync(building);
        writeFileSync(join(building, 'owner'), this.runLock.id);
        break;
      } catch {
        // Another run is seeding this key: wait for it while its lock is held, else take over.
        if (await claimHeld(building, readOwner(building), (run) => this.runLock.isLive(run))) {
          await sleep(200);
          continue;
        }
        removeTree(building);
      }
    }
    const layer = join(building, 'layer');
    try {
      const id = newSandboxId();
      const sandbox = await NamespaceSandbox.start({
        id,
        runId: this.runLock.id,
        dir: join(this.sandboxesDir, id),
        layers: [],
        upper: layer,
        snapshot: undefined,
        cgroups: cgroupLayout(),
        scope: this.scope,
        confinement: this.options.confinement,
        limits: {},
        shareNetwork: options.shareNetwork ?? false,
        rootless: this.privilege === 'rootless',
        hide: [this.stateDir],
        ownDirs: this.ownDirs,
      });
      try {
        await options.build(sandbox);
      } finally {
        await sandbox.kill();
      }
      const final = join(this.snapshotsDir, options.key);
      const snapshot: Snapshot = {
        key: options.key,
        createdAt: new Date().toISOString(),
        layers: [join(final, 'layer')],
      };
      writeFileSync(join(building, 'snapshot.json'), JSON.stringify(snapshot, null, 2));
      recordSize(building, join(building, 'layer'));
      registerUse(building, this.runLock.id);
      removeTree(final);
      // renamed while it still names its owner: a `.building` without one may be taken for abandoned
      renameSync(building, final);
      rmSync(join(final, 'owner'), { force: true });
      return snapshot;
    } catch (error) {
      removeTree(building);
      throw error;
    }
  }

  async deleteSnapshot(key: string): Promise<boolean> {
    if (!/^[\w.-]+$/.test(key) || key.startsWith('.')) return false;
    await this.runLock.hold();
    return removeSnapshot(join(this.snapshotsDir, key), {
      self: this.runLock.id,
      isLive: (run) => this.runLock.isLive(run),
    });
  }

  async fork(
    snapshot: Snapshot | undefined,
    options: { limits?: ResourceLimits; shareNetwork?: boolean } = {},
  ): Promise<NamespaceSandbox> {
    await this.preflight();
    await this.runLock.hold();
    const id = newSandboxId();
    return NamespaceSandbox.start({
      id,
      runId: this.runLock.id,
      dir: join(this.sandboxesDir, id),
      layers: snapshot?.layers ?? [],
      snapshot: snapshot?.key,
      cgroups: cgroupLayout(),
      scope: this.scope,
      confinement: this.options.confinement,
      limits: options.limits ?? DEFAULT_LIMITS,
      shareNetwork: options.shareNetwork ?? false,
      rootless: this.privilege === 'rootless',
      hide: [this.stateDir],
      ownDirs: this.ownDirs,
    });
  }

  async list(): Promise<SandboxSummary[]> {
    return this.listSandboxes().map(({ id, kept, ownerPid, createdAt }) => ({
      id,
      kept,
      ownerPid,
      createdAt,
    }));
  }

  /** Enters the sandbox's namespaces and cgroups with the helper, at the directory and with the
   * environment its tests had (saved by `keep`), else at `/` with ours. */
  async attach(id: string, argv: string[]): Promise<AttachCommand> {
    const meta = findSandbox(this.stateDir, id);
    let saved: { cwd: string; env: Record<string, string> } = {
      cwd: '/',
      env: process.env as Record<string, string>,
    };
    try {
      saved = JSON.parse(readFileSync(join(this.sandboxesDir, id, 'env.json'), 'utf8'));
    } catch {
      // kept without a saved environment: use ours
    }
    const args = ['exec', '--pid', String(meta.initPid), '--cwd', saved.cwd];
    for (const c of meta.cgroups) args.push('--cgroup', c);
    args.push(...confinementArgs(this.options.confinement));
    const command = argv.length > 0 ? argv : [process.env.SHELL ?? '/bin/sh'];
    return { argv: [helperPath(), ...args, '--', ...command], env: saved.env };
  }

  /** Live sandboxes recorded under the state directory (including kept ones). */
  listSandboxes(): SandboxMeta[] {
    if (!existsSync(this.sandboxesDir)) return [];
    return readdirSync(this.sandboxesDir)
      .map((id) => readSandboxMeta(join(this.sandboxesDir, id)))
      .filter((m): m is SandboxMeta => m !== undefined && alive(m.initPid));
  }

  /**
   * Remove what ended runs left: sandboxes of runs whose lock is released (and kept ones when
   * `includeKept`), their cgroups and disk quota mounts, the runs' cgroup directories,
   * half-built snapshots, and (with `snapshotBudgetBytes`) snapshots beyond the budget. Only
   * this project's state and cgroups are looked at; a sandbox, a cgroup or a snapshot build of
   * a run that still holds its lock is never touched, so `gc` is safe beside any number of
   * running seedfork processes.
   */
  async gc(options: GcOptions = {}): Promise<GcReport> {
    await this.preflight();
    const report: GcReport = { sandboxes: [], cgroups: [], snapshotsInProgress: [], snapshots: [] };
    const layout = cgroupLayout();
    const project = this.runLock.project;
    const liveRuns = new Map<string, boolean>();
    const isLive = async (run: string | undefined): Promise<boolean> => {
      if (run === undefined) return false;
      if (!liveRuns.has(run)) liveRuns.set(run, await this.runLock.isLive(run));
      return liveRuns.get(run)!;
    };
    const spared = new Set<string>(); // cgroup directories of sandboxes left alone
    if (existsSync(this.sandboxesDir)) {
      for (const name of readdirSync(this.sandboxesDir)) {
        const dir = join(this.sandboxesDir, name);
        const run = readOwner(dir, 'run');
        if (name.startsWith('.')) {
          // being created (renamed into place in a moment) or abandoned half-way
          if (await claimHeld(dir, run, isLive)) continue;
          removeTree(dir);
          continue;
        }
        const meta = readSandboxMeta(dir);
        const cgroups = meta?.cgroups ?? (run ? sandboxCgroupDirs(layout, { project, run }, name) : []);
        const initAlive = meta !== undefined && alive(meta.initPid);
        const keep = meta?.kept ? initAlive && !options.includeKept : await isLive(run);
        if (keep) {
          for (const c of cgroups) spared.add(c);
          continue;
        }
        if (meta && initAlive) {
          try {
            process.kill(meta.initPid, 'SIGKILL');
          } catch {
            // raced with its exit
          }
          const deadline = Date.now() + 5000;
          while (alive(meta.initPid) && Date.now() < deadline) await sleep(10);
        }
        releaseQuotaMount(join(dir, 'disk'));
        await destroySandboxCgroup(cgroups);
        removeTree(dir);
        report.sandboxes.push(name);
      }
    }
    for (const [run, ids] of listRunCgroups(layout, project)) {
      if (await isLive(run)) continue;
      for (const id of ids) {
        const dirs = sandboxCgroupDirs(layout, { project, run }, id);
        if (dirs.some((d) => spared.has(d))) continue;
        await destroySandboxCgroup(dirs);
        report.cgroups.push(id);
      }
      removeRunCgroup(layout, { project, run });
    }
    await this.runLock.removeEnded((run) => isLive(run));
    if (existsSync(this.snapshotsDir)) {
      for (const name of readdirSync(this.snapshotsDir)) {
        if (!name.endsWith('.building')) continue;
        const dir = join(this.snapshotsDir, name);
        if (await claimHeld(dir, readOwner(dir), isLive)) continue;
        removeTree(dir);
        report.snapshotsInProgress.push(name.replace(/\.building$/, ''));
      }
    }
    if (options.snapshotBudgetBytes !== undefined) {
      report.snapshots = await pruneSnapshots(this.snapshotsDir, {
        keep: options.keepSnapshots ?? [],
        budgetBytes: options.snapshotBudgetBytes,
        isLive,
      });
    }
    return report;
  }
}

/** The run id in `<dir>/<file>` (`owner` of a snapshot build, `run` of a sandbox), if any. */
function readOwner(dir: string, file = 'owner'): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** How long a snapshot build or a sandbox directory that names no run yet counts as being set up (ms). */
const OWNERLESS_GRACE_MS = 60_000;

/**
 * Whether a sandbox directory or a snapshot build (`<key>.building`) in `dir` is still someone's:
 * its `owner` run holds its lock, or it names no run yet (between its `mkdir` and the write of
 * its owner) and is younger than {@link OWNERLESS_GRACE_MS}. A directory that is gone is no one's.
 */
async function claimHeld(
  dir: string,
  owner: string | undefined,
  isLive: (run: string) => Promise<boolean>,
): Promise<boolean> {
  if (owner === undefined) return existsSync(dir) && ageMs(dir) < OWNERLESS_GRACE_MS;
  return isLive(owner);
}

/** Milliseconds since `path` was last modified (0 when it is gone). */
function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Directories each sandbox replaces with a fresh, private tmpfs. */
export const PRIVATE_MOUNTS = ['/tmp', '/run', '/dev/shm'];

/** The mount point of the filesystem holding `dir`: its highest ancestor on the same device. */
function mountPointOf(dir: string): string {
  const dev = statSync(dir).dev;
  let current = dir;
  while (dirname(current) !== current && statSync(dirname(current)).dev === dev) current = dirname(current);
  return current;
}

/** @throws SeedforkError when `id` is not a live sandbox under `stateDir`. */
export function findSandbox(stateDir: string, id: string): SandboxMeta {
  const meta = readSandboxMeta(join(stateDir, 'sandboxes', id));
  if (!meta || !alive(meta.initPid)) {
    throw new SeedforkError(`no live sandbox '${id}' under ${stateDir}`, {
      hint: 'List kept sandboxes with `seedfork list`; run with --keep-failed to keep failed ones.',
    });
  }
  return meta;
}
