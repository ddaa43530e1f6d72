import { lstatSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** Free and total space of a filesystem, in bytes. */
export interface DiskSpace {
  /** Bytes an unprivileged writer may still use (statfs f_bavail × f_bsize). */
  freeBytes: number;
  totalBytes: number;
  /** The filesystem's block size in bytes (statfs f_bsize). */
  blockBytes: number;
}

/**
 * The space of the filesystem holding `dir`, from statfs(2).
 * @returns undefined when `dir` cannot be read (removed, or not there yet).
 */
export function diskSpace(dir: string): DiskSpace | undefined {
  try {
    const fs = statfsSync(dir);
    return { freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize, blockBytes: fs.bsize };
  } catch {
    return undefined;
  }
}

/**
 * Bytes a directory tree takes on disk: its allocated blocks, as `du` counts them (st_blocks ×
 * 512, stat(2)); links are not followed, and what cannot be read counts 0 (a missing `dir`: 0).
 */
export function diskUsage(dir: string): number {
  let total = 0;
  const walk = (path: string) => {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    total += st.blocks * 512;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const name of names) walk(join(path, name));
  };
  walk(dir);
  return total;
}
