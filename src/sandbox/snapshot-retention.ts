import { randomBytes } from 'node:crypto';
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
import { basename, dirname, join } from 'node:path';
import { diskUsage } from '../fs/disk-space.js';
import { removeTree } from './remove-tree.js';

/**
 * Which snapshots a state directory keeps, for every backend. Each snapshot directory holds
 * `users/<run>` (one empty file per run that opened it: a snapshot whose users still run is in
 * use), `size` (bytes on disk, measured once when it was frozen: snapshots never change), its
 * `snapshot.json`, and its modification time of `users/` as the time it was last used.
 */

/** Record that run `runId` uses the snapshot in `dir`, and when. */
export function registerUse(dir: string, runId: string): void {
  const users = join(dir, 'users');
  mkdirSync(users, { recursive: true });
  writeFileSync(join(users, runId), '');
}

/** Measure a snapshot that was just frozen (what of it takes space: `measured`, default all of it) and record its size. */
export function recordSize(dir: string, measured = dir): void {
  writeFileSync(join(dir, 'size'), String(diskUsage(measured)));
}

function sizeOf(dir: string): number {
  try {
    return Number(readFileSync(join(dir, 'size'), 'utf8')) || diskUsage(dir);
  } catch {
    return diskUsage(dir);
  }
}

function lastUsed(dir: string): number {
  for (const path of [join(dir, 'users'), join(dir, 'snapshot.json')]) {
    try {
      return statSync(path).mtimeMs;
    } catch {
      // not used by this version yet
    }
  }
  return 0;
}

/** Options of {@link pruneSnapshots}. */
export interface PruneOptions {
  /** Snapshot keys never removed (the current config's). */
  keep: readonly string[];
  /** The key of the snapshot in directory `name` (default: the name itself). */
  keyOf?: (name: string) => string;
  /** Total bytes the kept snapshots may take; the least recently used go first. */
  budgetBytes: number;
  /** Whether a run still holds its lock (see RunLock). */
  isLive: (run: string) => Promise<boolean>;
}

/**
 * Remove snapshots that are not current until the rest fit in the budget, least recently used
 * first. A snapshot that a live run registered as used, or one in `keep`, is never removed, but
 * counts against the budget. A snapshot is first renamed away, then checked for users once more
 * (a run that registered meanwhile gets it back), then deleted.
 * @returns the removed snapshots' keys
 */
export async function pruneSnapshots(snapshotsDir: string, options: PruneOptions): Promise<string[]> {
  if (!existsSync(snapshotsDir)) return [];
  const inUse = async (dir: string): Promise<boolean> => {
    let users: string[] = [];
    try {
      users = readdirSync(join(dir, 'users'));
    } catch {
      return false;
    }
    let live = false;
    for (const run of users) {
      if (await options.isLive(run)) live = true;
      else rmSync(join(dir, 'users', run), { force: true });
    }
    return live;
  };
  const snapshots: { key: string; dir: string; size: number; lastUsed: number; pinned: boolean }[] = [];
  for (const key of readdirSync(snapshotsDir)) {
    const dir = join(snapshotsDir, key);
    if (key.startsWith('.') || key.includes('.building') || !existsSync(join(dir, 'snapshot.json'))) continue;
    const pinned = options.keep.includes(options.keyOf?.(key) ?? key) || (await inUse(dir));
    snapshots.push({ key, dir, size: sizeOf(dir), lastUsed: lastUsed(dir), pinned });
  }
  let total = snapshots.filter((s) => s.pinned).reduce((n, s) => n + s.size, 0);
  const removed: string[] = [];
  for (const s of snapshots.filter((x) => !x.pinned).sort((a, b) => b.lastUsed - a.lastUsed)) {
    if (total + s.size <= options.budgetBytes) {
      total += s.size;
      continue;
    }
    const doomed = join(snapshotsDir, `.removing-${s.key}-${randomBytes(3).toString('hex')}`);
    try {
      renameSync(s.dir, doomed);
    } catch {
      continue; // rebuilt or removed meanwhile
    }
    if (await inUse(doomed)) {
      renameSync(doomed, s.dir);
      total += s.size;
      continue;
    }
    removeTree(doomed);
    removed.push(s.key);
  }
  // what an earlier gc could not finish (not one another gc is deciding on right now)
  for (const name of readdirSync(snapshotsDir)) {
    const path = join(snapshotsDir, name);
    if (name.startsWith('.removing-') && Date.now() - statSync(path).ctimeMs > 60_000) removeTree(path);
  }
  return removed;
}

/**
 * Remove one snapshot directory now (`seedfork` SDK's Snapshot.delete): renamed away first, so
 * that no run opens it meanwhile, then removed unless a live run other than `self` registered
 * as a user (it is then put back).
 * @returns false when there was no such snapshot
 * @throws Error naming the run that still uses it
 */
export async function removeSnapshot(
  dir: string,
  options: { self: string; isLive: (run: string) => Promise<boolean> },
): Promise<boolean> {
  const doomed = join(dirname(dir), `.removing-${basename(dir)}-${randomBytes(3).toString('hex')}`);
  try {
    renameSync(dir, doomed);
  } catch {
    return false;
  }
  let users: string[] = [];
  try {
    users = readdirSync(join(doomed, 'users'));
  } catch {
    // never registered
  }
  for (const run of users) {
    if (run !== options.self && (await options.isLive(run))) {
      renameSync(doomed, dir);
      throw new Error(`snapshot ${basename(dir)} is in use by another seedfork process (run ${run})`);
    }
  }
  removeTree(doomed);
  return true;
}
