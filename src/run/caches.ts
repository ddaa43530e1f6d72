import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Adapter } from '../adapters/types.js';
import type { LoadedConfig } from '../config/load.js';
import type { Sandbox } from '../sandbox/types.js';

/**
 * Warm tool caches. Inside a sandbox a cache directory of the host is seen through the sandbox's
 * copy-on-write view: readable, never written (the sandbox's writes land in its own layer). After
 * a sandbox whose files all passed, the cache entries it created are staged; when the run ends
 * they are merged into the host's directory, new entries only (an existing file is never
 * replaced). So no sandbox of a run sees another's entries, a failed file's entries are dropped,
 * and a poisoned entry can at worst be a new file that a later run reads (see the README).
 */
export class CacheHarvest {
  /** Absolute host directories kept warm, symbolic links resolved (a sandbox's writes through a
   * linked node_modules land at the link's target, and are found there). */
  readonly dirs: string[];
  private readonly staging: string;
  private staged = 0;

  /**
   * @param dirs host directories to keep warm (absolute)
   * @param stateDir the state directory (hidden in sandboxes), where entries wait for the run's end
   */
  constructor(dirs: string[], stateDir: string) {
    this.dirs = [...new Set(dirs.map((d) => realDir(resolve(d))))];
    this.staging = join(stateDir, 'cache-staging', `${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  /** Whether `path` (absolute) is inside one of the cache directories. */
  covers(path: string): boolean {
    return this.dirs.some((d) => path === d || path.startsWith(`${d}/`));
  }

  /**
   * Stage the cache entries `sandbox` created (call it only when its files passed, before it
   * is killed). Entries larger than the sandbox's read limit are skipped.
   * @returns how many were staged
   */
  async collect(sandbox: Sandbox): Promise<number> {
    if (this.dirs.length === 0) return 0;
    // skip everything but the cache directories and the directories above them (the walk prunes)
    const ignore = (path: string) => {
      const p = path.replace(/\/$/, '');
      return !this.covers(p) && !this.dirs.some((d) => d.startsWith(`${p}/`));
    };
    const changes = await sandbox.changedFiles(ignore);
    let count = 0;
    for (const path of changes.created) {
      if (path.endsWith('/') || existsSync(path)) continue; // a directory, or the host has it already
      const data = await sandbox.readFile(path);
      if (data === undefined) continue; // not a regular file
      const target = join(this.staging, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, data);
      count++;
    }
    this.staged += count;
    return count;
  }

  /**
   * Move the staged entries into the host's cache directories, new entries only: an entry that
   * appeared meanwhile (another run) is kept. Each lands whole (written aside, then hard-linked
   * into place), so a reader never sees half of one.
   * @returns how many were merged
   */
  merge(): number {
    let merged = 0;
    if (this.staged > 0 && existsSync(this.staging)) {
      const walk = (dir: string) => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) {
            walk(path);
            continue;
          }
          const target = `/${relative(this.staging, path)}`;
          if (!this.covers(target) || existsSync(target)) continue;
          try {
            mkdirSync(dirname(target), { recursive: true });
            placeNew(path, target);
            merged++;
          } catch {
            // another run merged the same entry first, or the directory is not ours to write
          }
        }
      };
      walk(this.staging);
    }
    this.discard();
    return merged;
  }

  /** Drop what was staged (a cancelled run). */
  discard(): void {
    rmSync(this.staging, { recursive: true, force: true });
  }
}

/**
 * `dir` (absolute) with the symbolic links in the part of it that exists resolved: the directory a
 * write through `dir` lands in, whether or not `dir` itself exists yet.
 */
function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    const parent = dirname(dir);
    return parent === dir ? dir : join(realDir(parent), basename(dir));
  }
}

/**
 * Put `source` at `target` unless something is there already: a hard link fails when the target
 * exists, so nothing is overwritten, and the entry appears whole. Across filesystems the file is
 * first copied beside the target.
 * @throws when the target exists or cannot be written
 */
function placeNew(source: string, target: string): void {
  try {
    linkSync(source, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
  }
  const aside = `${target}.seedfork-${randomBytes(4).toString('hex')}`;
  copyFileSync(source, aside);
  try {
    linkSync(aside, target);
  } finally {
    unlinkSync(aside);
  }
}

/**
 * The cache directories of a project: those the runner writes (its adapter's `caches`) and
 * config `cache` (relative to the project, absolute, or under `~/`).
 */
export function cacheDirsOf(loaded: LoadedConfig, adapter: Adapter): string[] {
  const configured = loaded.config.cache.map((d) =>
    d.startsWith('~/') ? join(homedir(), d.slice(2)) : isAbsolute(d) ? d : join(loaded.root, d),
  );
  return [...(adapter.caches?.(loaded.root) ?? []), ...configured];
}
