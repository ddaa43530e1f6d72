import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { extractVmlinux, isElf } from './bzimage.js';
import { runHostTool } from './host-tool.js';

const run = promisify(execFile);

/** Debian's kernel for virtual machines: small, virtio as modules, PVH entry point. */
export const DEBIAN_KERNEL_PACKAGE = 'linux-image-cloud-amd64';

/** Kernel modules the guest needs, by name, when the kernel does not build them in. */
export const GUEST_MODULES = [
  'virtio_mmio',
  'virtio_blk',
  'virtio_console',
  'virtio_net',
  'overlay',
] as const;

/** A kernel a guest boots: the uncompressed ELF image and its modules in load order. */
export interface GuestKernel {
  /** Path of the uncompressed `vmlinux` (PVH-bootable ELF). */
  vmlinux: string;
  /** Kernel release (`6.1.0-57-cloud-amd64`). */
  release: string;
  /** `.ko` files to load at boot, dependencies first (empty when they are built in). */
  modules: { name: string; path: string }[];
}

/**
 * Debian's cloud kernel (or the kernel package `name`: a metapackage such as
 * linux-image-amd64, or a versioned linux-image-6.1.0-…), fetched once from the archive with `apt-get download` (nothing is
 * installed on the host) and unpacked under `cacheDir`; its vmlinuz is decompressed to a vmlinux.
 * @throws SeedforkError when apt cannot fetch the package (not Debian, no archive) or it holds
 *   no kernel, saying to set microvm.kernel instead
 */
export async function debianKernel(cacheDir: string, name = DEBIAN_KERNEL_PACKAGE): Promise<GuestKernel> {
  const pkg = /^linux-image-\d/.test(name) ? name : await resolvePackage(name);
  const dir = join(cacheDir, 'kernel', pkg);
  if (!existsSync(join(dir, 'vmlinux'))) {
    const partial = `${dir}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    try {
      await runHostTool(
        'apt-get',
        ['download', '-o', 'APT::Sandbox::User=root', pkg],
        `cannot download the guest kernel ${pkg} from Debian's archive`,
        {
          cwd: partial,
          hint: "The microvm backend boots Debian's cloud kernel; on other systems set microvm.kernel to a vmlinux or vmlinuz (and microvm.modules to its modules directory).",
        },
      );
      const deb = readdirSync(partial).find((f) => f.endsWith('.deb'))!;
      await runHostTool('dpkg-deb', ['-x', deb, 'root'], `cannot unpack ${deb}`, { cwd: partial });
      const vmlinuz = readdirSync(join(partial, 'root/boot')).find((f) => f.startsWith('vmlinuz-'));
      if (!vmlinuz) throw new SeedforkError(`${pkg} holds no /boot/vmlinuz-*`);
      const image = readFileSync(join(partial, 'root/boot', vmlinuz));
      writeFileSync(join(partial, 'vmlinux'), isElf(image) ? image : await extractVmlinux(image));
      rmSync(join(partial, deb));
      rmSync(dir, { recursive: true, force: true });
      renameSync(partial, dir);
    } catch (error) {
      rmSync(partial, { recursive: true, force: true });
      throw error;
    }
  }
  const release = readdirSync(join(dir, 'root/lib/modules'))[0]!;
  return {
    vmlinux: join(dir, 'vmlinux'),
    release,
    modules: moduleLoadOrder(join(dir, 'root/lib/modules', release), GUEST_MODULES),
  };
}

/** The versioned package a metapackage depends on (`linux-image-6.1.0-57-cloud-amd64`). */
async function resolvePackage(meta: string): Promise<string> {
  try {
    const { stdout } = await run('apt-cache', ['depends', meta]);
    const dep = /Depends: (linux-image-[^\s<>]+)/.exec(stdout)?.[1];
    if (dep) return dep;
  } catch {
    // below
  }
  throw new SeedforkError(`apt knows no package ${meta}`, {
    hint: 'Run apt-get update (Debian 12 and later have it), or set microvm.kernel to a vmlinux or vmlinuz of your own.',
  });
}

/**
 * The `.ko` files for `names` under a modules directory (`/lib/modules/<release>`), with the
 * modules they depend on, dependencies first. Dependencies come from each module's own
 * `depends=` entry in its `.modinfo` section; modules listed in `modules.builtin` are left out.
 * @throws SeedforkError when a module is neither built in nor found
 */
export function moduleLoadOrder(
  modulesDir: string,
  names: readonly string[],
): { name: string; path: string }[] {
  const builtin = new Set(
    existsSync(join(modulesDir, 'modules.builtin'))
      ? readFileSync(join(modulesDir, 'modules.builtin'), 'utf8')
          .split('\n')
          .map((l) =>
            l
              .replace(/^.*\//, '')
              .replace(/\.ko.*$/, '')
              .replaceAll('-', '_'),
          )
      : [],
  );
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ko')) files.set(e.name.slice(0, -3).replaceAll('-', '_'), join(dir, e.name));
    }
  };
  walk(modulesDir);
  const order: { name: string; path: string }[] = [];
  const visit = (name: string) => {
    if (builtin.has(name) || order.some((m) => m.name === name)) return;
    const path = files.get(name);
    if (!path)
      throw new SeedforkError(`the guest kernel has no module ${name} (${modulesDir})`, {
        hint: 'Use a kernel that has virtio-mmio, virtio-blk, virtio-console and overlayfs, built in or as modules.',
      });
    const info = readFileSync(path).toString('latin1');
    const depends = /depends=([^\0]*)\0/.exec(info)?.[1] ?? '';
    for (const dep of depends.split(',').filter(Boolean)) visit(dep.replaceAll('-', '_'));
    order.push({ name, path });
  };
  for (const name of names) visit(name);
  return order;
}
