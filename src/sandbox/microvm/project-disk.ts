import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runHostTool } from './host-tool.js';

/**
 * Size of every project disk (sparse: only what is written takes space). The same for the
 * snapshot's placeholder and each run's disk, because the guest's virtio-blk driver read the
 * capacity when the snapshot was taken.
 */
export const PROJECT_DISK_BYTES = 16 * 1024 ** 3;

/**
 * Where the guest's agent mounts disk `device` read-only (`lower`), where it keeps what a seed
 * wrote there before the snapshot (`seed`), and the tmpfs whose `upper` directory takes what is
 * written there now (native/guest-agent.c, mount_dirs).
 */
export function diskMountDirs(device: string): { lower: string; seed: string; upper: string } {
  const name = device.slice(device.lastIndexOf('/') + 1);
  return {
    lower: `/run/seedfork/${name}/lower`,
    seed: `/run/seedfork/${name}/seed/upper`,
    upper: `/run/seedfork/${name}/upper/upper`,
  };
}

/**
 * An ext4 image of `dir` (or an empty one) at `out`: the project's files as a block device for a
 * guest. `mkfs.ext4 -d` copies the tree without mounting anything on the host.
 * @param skip paths relative to `dir` left out (`.git`, seedfork's state directory, at any depth)
 * @throws SeedforkError when cp, mkfs.ext4 or debugfs is missing or fails
 */
export async function writeProjectDisk(
  dir: string | undefined,
  out: string,
  skip: readonly string[] = [],
): Promise<void> {
  const partial = `${out}.partial`;
  const failed = `cannot write the project disk of ${dir ?? 'an empty project'}`;
  rmSync(partial, { force: true });
  let stage: string | undefined;
  try {
    let source = dir;
    if (dir && skip.some((p) => existsSync(join(dir, p)))) {
      // hard links: a copy of the tree without the skipped paths, at no cost in data. It is made
      // in `dir` itself (hard links need one filesystem), beside the entries it copies, never
      // inside one: a skipped directory (the state directory) may hold `out`.
      const top = skip.filter((p) => !p.includes('/'));
      const entries = readdirSync(dir).filter((e) => !top.includes(e));
      stage = join(dir, `.seedfork-disk-${process.pid}-${randomBytes(4).toString('hex')}`);
      mkdirSync(stage);
      if (entries.length)
        await runHostTool('cp', ['-al', ...entries.map((e) => `${dir}/${e}`), stage], failed);
      for (const nested of skip.filter((p) => p.includes('/')))
        rmSync(join(stage, nested), { recursive: true, force: true });
      source = stage;
    }
    await runHostTool(
      'mkfs.ext4',
      [
        '-q',
        '-F',
        '-L',
        'seedfork-project',
        '-E',
        'root_owner=0:0',
        ...(source ? ['-d', source] : []),
        partial,
        `${PROJECT_DISK_BYTES / 1024}k`,
      ],
      failed,
    );
    // mkfs makes a lost+found the project does not have: tests listing the directory would see it
    if (!source || !existsSync(join(source, 'lost+found')))
      await runHostTool('debugfs', ['-w', '-R', 'rmdir lost+found', partial], failed);
    renameSync(partial, out);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    if (stage) rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * Tools' caches kept in node_modules (Vite's and Vitest's, Babel's and others' under `.cache`):
 * they change on every run and decide nothing about which packages resolve, so a disk is not
 * written again for them (the disk has them as they were when it was written).
 */
const CACHE_ENTRIES = ['.cache', '.vite', '.vitest'];

/**
 * A disk of `dir` (a `node_modules` directory: large, and unchanged from run to run) kept in
 * `cacheDir` and written again only when something in it changed: its name holds a hash of
 * `dir`'s path and one of every entry's path, size and modification time (tools' caches left
 * out: CACHE_ENTRIES). An older disk of the
 * same directory is removed (a guest that has it open keeps reading it).
 * @returns the disk's path
 * @throws SeedforkError when cp, mkfs.ext4 or debugfs is missing or fails
 */
export async function cachedDisk(dir: string, cacheDir: string): Promise<string> {
  const place = createHash('sha256').update(dir).digest('hex').slice(0, 12);
  const content = createHash('sha256');
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (at === dir && CACHE_ENTRIES.includes(entry.name)) continue;
      const path = join(at, entry.name);
      const st = lstatSync(path);
      content.update(`${path}\0${st.size}\0${st.mtimeMs}\0${st.mode}\n`);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(dir);
  const name = `${place}-${content.digest('hex').slice(0, 16)}.ext4`;
  const disk = join(cacheDir, name);
  if (existsSync(disk)) return disk;
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${disk}.${process.pid}`;
  try {
    await writeProjectDisk(dir, partial);
    renameSync(partial, disk);
  } finally {
    rmSync(partial, { force: true });
  }
  for (const old of readdirSync(cacheDir))
    if (old.startsWith(`${place}-`) && old.endsWith('.ext4') && old !== name)
      rmSync(join(cacheDir, old), { force: true });
  return disk;
}
