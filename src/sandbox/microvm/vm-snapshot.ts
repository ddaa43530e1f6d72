import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userCacheDir } from '../../config/user-cache.js';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { nativePart } from '../native-parts.js';
import { probeBoot, settleAccelerator } from './accel-probe.js';
import { writeInitramfs } from './initramfs.js';
import { DEBIAN_KERNEL_PACKAGE, debianKernel, type GuestKernel } from './kernel.js';
import { writeProjectDisk } from './project-disk.js';
import {
  type AcceleratorChoice,
  chooseAccelerator,
  consoleTail,
  createOverlay,
  type Guest,
  type GuestDisk,
  type GuestSpec,
  startGuest,
} from './qemu.js';
import { BASE_PACKAGES, type RootImage, rootImage } from './root-image.js';
import { restoreGuest, saveGuest } from './snapshot.js';

/** Where kernels and root images are cached: shared by every project of this user. */
export function microvmCacheDir(): string {
  return userCacheDir('microvm');
}

/**
 * The guest agent (native/guest-agent.c) for this machine's architecture.
 * @throws SeedforkError when there is none (see nativePart), with what to do
 */
export function agentPath(): string {
  return nativePart('seedfork-agent', 'the microvm guest agent');
}

/** What every guest boots: kernel, initramfs (the agent and modules), root image, accelerator. */
export interface GuestAssets {
  kernel: GuestKernel;
  image: RootImage;
  initramfs: string;
  accel: AcceleratorChoice;
}

/**
 * The kernel, root image and initramfs, built or fetched once and cached under `cacheDir`.
 * @param onBuild told what is being built when something is (it can take a minute)
 * KVM is used only after a probe guest booted under it (accel-probe.ts).
 * @throws SeedforkError when the agent was not built, KVM was asked for where there is none (or
 *   where a probe guest does not boot), or a download or build fails
 */
export async function guestAssets(
  options: {
    cacheDir?: string;
    packages?: readonly string[];
    /** Debian kernel package (default {@link DEBIAN_KERNEL_PACKAGE}). */
    kernel?: string;
    accel?: 'auto' | 'kvm' | 'tcg';
    onBuild?: (what: string) => void;
  } = {},
): Promise<GuestAssets> {
  const cacheDir = options.cacheDir ?? microvmCacheDir();
  const agent = agentPath();
  const accel = chooseAccelerator(options.accel);
  const kernel = await debianKernel(cacheDir, options.kernel);
  const image = await rootImage(cacheDir, options.packages ?? BASE_PACKAGES, () =>
    options.onBuild?.('the guest root filesystem (Debian packages, once per set of packages)'),
  );
  // named by what it holds, so that concurrent runs share one and a rebuilt agent makes another
  const hash = createHash('sha256').update(readFileSync(agent));
  for (const m of kernel.modules) hash.update(m.path);
  const initramfs = join(cacheDir, 'images', `initramfs-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(initramfs)) {
    const partial = `${initramfs}.${process.pid}`;
    writeInitramfs(agent, kernel.modules, partial);
    renameSync(partial, initramfs);
  }
  const requested = options.accel ?? 'auto';
  const settled = await settleAccelerator(accel, requested, (a) =>
    probeBoot({ vmlinux: kernel.vmlinux, initramfs }, a),
  );
  return { kernel, image, initramfs, accel: settled };
}

/** Memory and CPUs of a guest. */
export interface GuestSize {
  memoryMiB: number;
  cpus: number;
}

/**
 * Host files for a guest: a disk from {@link writeProjectDisk} (the project) or cachedDisk (its
 * node_modules), shown at `mountAt`.
 */
export interface ProjectDisk {
  disk: string;
  /** Absolute path in the guest (the project's path on the host, so paths stay the same). */
  mountAt: string;
}

/** What a snapshot's directory records besides the guest (`snapshot.json`). */
interface SnapshotRecord {
  /** The agent's next job id when the guest was saved: jobs below it may still run in forks. */
  nextJob: number;
  /** How many data disks (/dev/vdb, /dev/vdc, …) the guest has: every fork has as many. */
  slots: number;
  /** Whether the guest had a network (an open one): its forks have the device, cut off. */
  network?: boolean;
  /** ISO time it was saved. */
  createdAt: string;
}

/**
 * A running guest saved to disk, forked into guests that resume where it stopped (QEMU's VM
 * templating): its memory file (mapped copy-on-write by every fork), its device state, and its
 * disk (the backing file of every fork's qcow2 overlay). Its directory holds all of it. The
 * guest has data disks after its root (/dev/vdb, /dev/vdc, …): the project and its dependencies
 * while it is prepared, unmounted before it is saved (what `prepare` wrote there is kept, in
 * the guest's memory); each fork gets the current run's disks there, mounted after the restore
 * with the seed's writes above them, so tests see the current files as the seed left them.
 */
export class VmSnapshot {
  private constructor(
    private readonly assets: GuestAssets,
    readonly dir: string,
    private readonly size: GuestSize,
    private readonly record: SnapshotRecord,
  ) {}

  /** ISO time the guest was saved. */
  get createdAt(): string {
    return this.record.createdAt;
  }

  /**
   * Boot a guest from `assets`, let `prepare` set it up through its agent (start services, run
   * the seed) with `mounts` mounted, then unmount them and save the guest into `dir` (created;
   * removed again if anything fails). What `prepare` started keeps running in every fork.
   * @param options.slots data disks the guest has (default: as many as `mounts`, at least one);
   *   those `mounts` leave are empty placeholders
   * @param options.beforeSave runs last, with the disks unmounted (a listing of the guest's files)
   * @param options.network give the guest a network (QEMU's user-mode network); its forks get the
   *   same device with nothing behind it
   * @throws SeedforkError when the guest does not boot, `prepare` throws, or saving fails
   */
  static async create(
    assets: GuestAssets,
    dir: string,
    size: GuestSize,
    prepare: (guest: Guest) => Promise<void>,
    options: {
      mounts?: ProjectDisk[];
      slots?: number;
      network?: boolean;
      beforeSave?: (guest: Guest) => Promise<void>;
      readyMs?: number;
    } = {},
  ): Promise<VmSnapshot> {
    const { mounts = [], readyMs = 120_000 } = options;
    const slots = Math.max(options.slots ?? mounts.length, mounts.length, 1);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'boot'), { recursive: true });
    let guest: Guest | undefined;
    try {
      await createOverlay(assets.image.path, 'raw', join(dir, 'disk.qcow2'));
      guest = await startGuest(
        {
          ...guestSpec(assets, size),
          disks: [
            { id: 'root', file: join(dir, 'disk.qcow2'), format: 'qcow2' },
            ...(await dataDisks(dir, mounts, slots)),
          ],
          runDir: join(dir, 'boot'),
          memoryFile: { path: join(dir, 'memory'), share: true },
          ...(options.network ? { network: 'open' as const } : {}),
        },
        readyMs,
      );
      await mountAll(guest, mounts);
      await prepare(guest);
      for (const [i, mount] of [...mounts.entries()].reverse())
        await guest.agent.unmountDisk(dataDevice(i), mount.mountAt).catch((e: Error) => {
          throw new SeedforkError(
            `cannot unmount ${mount.mountAt} from the guest before saving it: ${e.message}`,
          );
        });
      await options.beforeSave?.(guest);
      await guest.agent.exec(['sync']);
      const record: SnapshotRecord = {
        nextJob: guest.agent.nextJobId,
        slots,
        ...(options.network ? { network: true } : {}),
        createdAt: new Date().toISOString(),
      };
      await saveGuest(guest, join(dir, 'state'));
      await guest.kill();
      writeFileSync(join(dir, 'snapshot.json'), JSON.stringify(record));
      return new VmSnapshot(assets, dir, size, record);
    } catch (error) {
      await guest?.kill();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * The snapshot saved in `dir` by {@link create}, or undefined when there is none (or only part
   * of one). `assets` and `size` must be those it was made with.
   */
  static open(assets: GuestAssets, dir: string, size: GuestSize): VmSnapshot | undefined {
    try {
      const record = JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8')) as SnapshotRecord;
      return new VmSnapshot(assets, dir, size, record);
    } catch {
      return undefined;
    }
  }

  /**
   * A new guest resumed from this snapshot in `runDir` (created): its own overlay disk, the
   * snapshot's memory mapped copy-on-write, its clock set and random pool reseeded, and `mounts`
   * mounted in order (writable, their writes kept in the guest). Killing it removes `runDir`.
   * Every disk must be {@link PROJECT_DISK_BYTES} large, as those the snapshot was saved with.
   * @throws SeedforkError when there are more mounts than the snapshot has disks, or QEMU, the
   *   restore or a mount fails (nothing is left behind)
   */
  async fork(runDir: string, options: { mounts?: ProjectDisk[]; readyMs?: number } = {}): Promise<Guest> {
    const { mounts = [], readyMs = 60_000 } = options;
    if (mounts.length > this.record.slots)
      throw new SeedforkError(
        `the snapshot's guest has ${this.record.slots} data disk(s), not ${mounts.length}`,
      );
    mkdirSync(runDir, { recursive: true });
    let guest: Guest | undefined;
    try {
      await createOverlay(join(this.dir, 'disk.qcow2'), 'qcow2', join(runDir, 'disk.qcow2'));
      guest = await startGuest(
        {
          ...guestSpec(this.assets, this.size),
          disks: [
            { id: 'root', file: join(runDir, 'disk.qcow2'), format: 'qcow2' },
            ...(await dataDisks(this.dir, mounts, this.record.slots)),
          ],
          runDir,
          memoryFile: { path: join(this.dir, 'memory'), share: false },
          incoming: true,
          firstJob: this.record.nextJob,
          ...(this.record.network ? { network: 'restricted' as const } : {}),
        },
        readyMs,
      );
      const started = guest;
      await restoreGuest(started, join(this.dir, 'state'), readyMs).catch(async (error: Error) => {
        await started.kill(); // QEMU's own message is complete only once it has exited
        throw new SeedforkError(
          `restoring the guest from the snapshot in ${this.dir} failed: ${error.message}`,
          {
            details: consoleTail(join(runDir, 'qemu.log'), 10),
            hint: 'The snapshot is damaged, or was saved by another QEMU: delete its directory, and the next run builds it again.',
            cause: error,
          },
        );
      });
      await mountAll(guest, mounts);
    } catch (error) {
      await guest?.kill();
      rmSync(runDir, { recursive: true, force: true });
      throw error;
    }
    const started = guest;
    return {
      ...started,
      kill: async () => {
        await started.kill();
        rmSync(runDir, { recursive: true, force: true });
      },
    };
  }

  /** Delete the snapshot's files. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The guest's device of data disk `index` (after the root disk, /dev/vda): /dev/vdb, /dev/vdc, … */
export function dataDevice(index: number): string {
  return `/dev/vd${String.fromCharCode(98 + index)}`;
}

/** QEMU's data disks: `mounts`' disks, then empty placeholders (kept in `dir`) up to `slots`. */
async function dataDisks(dir: string, mounts: ProjectDisk[], slots: number): Promise<GuestDisk[]> {
  const placeholder = join(dir, 'placeholder.ext4');
  if (mounts.length < slots && !existsSync(placeholder)) await writeProjectDisk(undefined, placeholder);
  return Array.from({ length: slots }, (_, i) => ({
    id: `data${i}`,
    file: mounts[i]?.disk ?? placeholder,
    format: 'raw' as const,
    readOnly: true,
  }));
}

/** @throws SeedforkError when the agent cannot mount one of `mounts` (in order: a later one may be inside an earlier one). */
async function mountAll(guest: Guest, mounts: ProjectDisk[]): Promise<void> {
  for (const [i, mount] of mounts.entries())
    await guest.agent.mountDisk(dataDevice(i), mount.mountAt).catch((e: Error) => {
      throw new SeedforkError(`cannot mount ${mount.mountAt} in the guest`, { details: e.message });
    });
}

/** The parts of a guest's QEMU spec that come from its assets and size (kernel, initramfs, root on /dev/vda). */
export function guestSpec(
  assets: GuestAssets,
  size: GuestSize,
): Omit<GuestSpec, 'disks' | 'runDir' | 'socketDir'> {
  return {
    vmlinux: assets.kernel.vmlinux,
    initramfs: assets.initramfs,
    append: ['seedfork.root=/dev/vda'],
    memoryMiB: size.memoryMiB,
    cpus: size.cpus,
    accel: assets.accel.accel,
  };
}
