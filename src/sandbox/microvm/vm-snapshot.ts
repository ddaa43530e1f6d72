import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { writeInitramfs } from './initramfs.js';
import { debianKernel, type GuestKernel } from './kernel.js';
import { mountProjectScript, writeProjectDisk } from './project-disk.js';
import {
  type AcceleratorChoice,
  chooseAccelerator,
  createOverlay,
  type Guest,
  type GuestSpec,
  startGuest,
} from './qemu.js';
import { BASE_PACKAGES, type RootImage, rootImage } from './root-image.js';
import { restoreGuest, saveGuest } from './snapshot.js';

/** Where kernels and root images are cached: shared by every project of this user. */
export function microvmCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'seedfork', 'microvm');
}

/** The guest agent, built by native/build.mjs. */
const AGENT = fileURLToPath(new URL('../../../native/seedfork-agent', import.meta.url));

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
 * @throws SeedforkError when the agent was not built, KVM was asked for where there is none, or a
 *   download or build fails
 */
export async function guestAssets(
  options: {
    cacheDir?: string;
    packages?: readonly string[];
    accel?: 'auto' | 'kvm' | 'tcg';
    onBuild?: (what: string) => void;
  } = {},
): Promise<GuestAssets> {
  const cacheDir = options.cacheDir ?? microvmCacheDir();
  if (!existsSync(AGENT))
    throw new SeedforkError('the microvm guest agent (native/seedfork-agent) was not built', {
      hint: 'Install a static C library (apt-get install libc6-dev), then run npm run build.',
    });
  const accel = chooseAccelerator(options.accel);
  const kernel = await debianKernel(cacheDir);
  const image = await rootImage(cacheDir, options.packages ?? BASE_PACKAGES, () =>
    options.onBuild?.('the guest root filesystem (Debian packages, once per set of packages)'),
  );
  // named by what it holds, so that concurrent runs share one and a rebuilt agent makes another
  const hash = createHash('sha256').update(readFileSync(AGENT));
  for (const m of kernel.modules) hash.update(m.path);
  const initramfs = join(cacheDir, 'images', `initramfs-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(initramfs)) {
    const partial = `${initramfs}.${process.pid}`;
    writeInitramfs(AGENT, kernel.modules, partial);
    renameSync(partial, initramfs);
  }
  return { kernel, image, initramfs, accel };
}

/** Memory and CPUs of a guest. */
export interface GuestSize {
  memoryMiB: number;
  cpus: number;
}

/** The project's files for a fork: a disk from {@link writeProjectDisk}, shown at `mountAt`. */
export interface ProjectDisk {
  disk: string;
  /** Absolute path in the guest (the project's path on the host, so paths stay the same). */
  mountAt: string;
}

/**
 * A running guest saved to disk, forked into guests that resume where it stopped (QEMU's VM
 * templating): its memory file (mapped copy-on-write by every fork), its device state, and its
 * disk (the backing file of every fork's qcow2 overlay). Its directory holds all of it. The
 * guest has a second disk, /dev/vdb, empty in the snapshot: each fork gets the current run's
 * project disk there, mounted after the restore, so tests always see the current files.
 */
export class VmSnapshot {
  private constructor(
    private readonly assets: GuestAssets,
    readonly dir: string,
    private readonly size: GuestSize,
  ) {}

  /**
   * Boot a guest from `assets`, let `prepare` set it up through its agent (start services, run
   * the seed), then save it into `dir` (created; removed again if anything fails).
   * @throws SeedforkError when the guest does not boot, `prepare` throws, or saving fails
   */
  static async create(
    assets: GuestAssets,
    dir: string,
    size: GuestSize,
    prepare: (guest: Guest) => Promise<void>,
    readyMs = 120_000,
  ): Promise<VmSnapshot> {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'boot'), { recursive: true });
    let guest: Guest | undefined;
    try {
      await createOverlay(assets.image.path, 'raw', join(dir, 'disk.qcow2'));
      await writeProjectDisk(undefined, join(dir, 'project-placeholder.ext4'));
      guest = await startGuest(
        {
          ...guestSpec(assets, size),
          disks: [
            { id: 'root', file: join(dir, 'disk.qcow2'), format: 'qcow2' },
            { id: 'project', file: join(dir, 'project-placeholder.ext4'), format: 'raw', readOnly: true },
          ],
          runDir: join(dir, 'boot'),
          memoryFile: { path: join(dir, 'memory'), share: true },
        },
        readyMs,
      );
      await prepare(guest);
      await guest.agent.exec(['sync']);
      await saveGuest(guest, join(dir, 'state'));
      await guest.kill();
      return new VmSnapshot(assets, dir, size);
    } catch (error) {
      await guest?.kill();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * A new guest resumed from this snapshot in `runDir` (created): its own overlay disk, the
   * snapshot's memory mapped copy-on-write, its clock set and random pool reseeded, and
   * `project` mounted (writable, its writes kept in the guest). Killing it removes `runDir`.
   * @throws SeedforkError when QEMU, the restore or the project's mount fails (nothing is left behind)
   */
  async fork(runDir: string, options: { project?: ProjectDisk; readyMs?: number } = {}): Promise<Guest> {
    const { project, readyMs = 60_000 } = options;
    mkdirSync(runDir, { recursive: true });
    let guest: Guest | undefined;
    try {
      await createOverlay(join(this.dir, 'disk.qcow2'), 'qcow2', join(runDir, 'disk.qcow2'));
      guest = await startGuest(
        {
          ...guestSpec(this.assets, this.size),
          disks: [
            { id: 'root', file: join(runDir, 'disk.qcow2'), format: 'qcow2' },
            {
              id: 'project',
              file: project?.disk ?? join(this.dir, 'project-placeholder.ext4'),
              format: 'raw',
              readOnly: true,
            },
          ],
          runDir,
          memoryFile: { path: join(this.dir, 'memory'), share: false },
          incoming: true,
        },
        readyMs,
      );
      await restoreGuest(guest, join(this.dir, 'state'), readyMs);
      if (project) {
        const mounted = await guest.agent.exec([
          '/bin/sh',
          '-c',
          mountProjectScript('/dev/vdb', project.mountAt),
        ]);
        if (mounted.exitCode !== 0)
          throw new SeedforkError(`cannot mount the project disk at ${project.mountAt} in the guest`, {
            details: `${mounted.stdout}${mounted.stderr}`,
          });
      }
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

/** The parts of a guest's QEMU spec that come from its assets and size (kernel, initramfs, root on /dev/vda). */
export function guestSpec(assets: GuestAssets, size: GuestSize): Omit<GuestSpec, 'disks' | 'runDir'> {
  return {
    vmlinux: assets.kernel.vmlinux,
    initramfs: assets.initramfs,
    append: ['seedfork.root=/dev/vda'],
    memoryMiB: size.memoryMiB,
    cpus: size.cpus,
    accel: assets.accel.accel,
  };
}
