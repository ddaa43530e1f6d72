import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runHostTool } from './host-tool.js';

/**
 * Size of every project disk (sparse: only what is written takes space). The same for the
 * snapshot's placeholder and each run's disk, because the guest's virtio-blk driver read the
 * capacity when the snapshot was taken.
 */
export const PROJECT_DISK_BYTES = 16 * 1024 ** 3;

/** Where the guest keeps the project disk's read-only mount and its writable layer. */
const LOWER = '/run/seedfork/project-lower';
const UPPER = '/run/seedfork/project-upper';

/**
 * An ext4 image of `dir` (or an empty one) at `out`: the project's files as a block device for a
 * guest. `mkfs.ext4 -d` copies the tree without mounting anything on the host.
 * @param skip top-level entries of `dir` left out (`.git`, seedfork's state)
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
    if (dir && skip.length && readdirSync(dir).some((e) => skip.includes(e))) {
      // hard links: a copy of the tree without the skipped entries, at no cost in data
      stage = `${out}.stage`;
      rmSync(stage, { recursive: true, force: true });
      const entries = readdirSync(dir).filter((e) => !skip.includes(e));
      mkdirSync(stage, { recursive: true });
      if (entries.length)
        await runHostTool('cp', ['-al', ...entries.map((e) => `${dir}/${e}`), stage], failed);
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
 * The guest's shell script that shows the project disk `device` at `path`, writable: the disk
 * read-only below, a tmpfs above (overlayfs), so a test's writes stay in its guest. The block
 * device's cache is dropped first: the guest read its first blocks when the snapshot's
 * placeholder was attached, and those must not be mistaken for this disk's.
 */
export function mountProjectScript(device: string, path: string): string {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  return [
    `blockdev --flushbufs ${device}`,
    `mkdir -p ${LOWER} ${UPPER} ${q(path)}`,
    `mount -t ext4 -o ro ${device} ${LOWER}`,
    `mount -t tmpfs -o mode=0755 tmpfs ${UPPER}`,
    `mkdir ${UPPER}/upper ${UPPER}/work`,
    `mount -t overlay overlay -o lowerdir=${LOWER},upperdir=${UPPER}/upper,workdir=${UPPER}/work ${q(path)}`,
  ].join(' && ');
}
