import { chmodSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function openUp(dir: string): void {
  try {
    chmodSync(dir, 0o700);
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (lstatSync(path).isDirectory()) openUp(path);
    }
  } catch {
    // not ours to open; rmSync reports what is left
  }
}

/**
 * `rm -rf` for sandbox directories. overlayfs creates its `work/work` directory with mode 000,
 * which only root can traverse; a rootless caller first makes its own directories accessible.
 * @throws the filesystem error when something still cannot be removed.
 */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
    openUp(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
