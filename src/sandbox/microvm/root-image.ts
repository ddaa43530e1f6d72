import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runHostTool } from './host-tool.js';

/** Debian packages every guest has: PostgreSQL (the postgres service), `ps` and `ss` for inspection. */
export const BASE_PACKAGES = ['postgresql', 'procps', 'iproute2', 'libstdc++6', 'ca-certificates'];

/** Debian release the guest is built from. */
export const GUEST_SUITE = 'bookworm';

/** The guest's root filesystem image and what it was built from. */
export interface RootImage {
  /** Raw ext4 image. */
  path: string;
  /** Hash of its inputs (suite, packages, the host's Node). */
  key: string;
}

/**
 * The guest's root filesystem: Debian `GUEST_SUITE` with `packages` (mmdebstrap, from the
 * archive apt is configured with) plus the host's own Node binary as /usr/local/bin/node (Debian
 * 12's nodejs is too old for the runners), linked from its host path, as a raw ext4 image (`mkfs.ext4 -d`), built once per
 * set of inputs under `cacheDir`.
 * @param onBuild called before a build starts (it takes a minute or more)
 * @throws SeedforkError when mmdebstrap or mkfs.ext4 is missing or fails, with the output
 */
export async function rootImage(
  cacheDir: string,
  packages: readonly string[] = BASE_PACKAGES,
  onBuild?: () => void,
): Promise<RootImage> {
  const wanted = [...new Set(packages)].sort();
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        suite: GUEST_SUITE,
        packages: wanted,
        node: process.version,
        at: process.execPath,
        v: 2,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir, 'images');
  const path = join(dir, `root-${key}.ext4`);
  if (existsSync(path)) return { path, key };
  onBuild?.();
  mkdirSync(dir, { recursive: true });
  const work = join(dir, `build-${key}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'root'), { recursive: true });
  try {
    await step('mmdebstrap', [
      '--variant=minbase',
      `--include=${wanted.join(',')}`,
      '--dpkgopt=path-exclude=/usr/share/doc/*',
      '--dpkgopt=path-exclude=/usr/share/man/*',
      '--dpkgopt=path-exclude=/usr/share/locale/*',
      // services are started by seedfork, not at boot
      '--customize-hook=rm -f "$1"/etc/systemd/system/multi-user.target.wants/*',
      GUEST_SUITE,
      join(work, 'root'),
    ]);
    copyFileSync(process.execPath, join(work, 'root/usr/local/bin/node'));
    // runners are started by the host's path of Node (process.execPath, /usr/bin/node here)
    const hostPath = join(work, 'root', process.execPath);
    if (!existsSync(hostPath)) {
      mkdirSync(dirname(hostPath), { recursive: true });
      symlinkSync('/usr/local/bin/node', hostPath);
    }
    await step('mkfs.ext4', [
      '-q',
      '-F',
      '-L',
      'seedfork-root',
      '-d',
      join(work, 'root'),
      join(work, 'image'),
      '4G',
    ]);
    renameSync(join(work, 'image'), path);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { path, key };
}

function step(command: string, args: string[]): Promise<string> {
  return runHostTool(command, args, `${command} failed while building the microvm guest's root filesystem`);
}
