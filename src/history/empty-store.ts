import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { userCacheDir } from '../config/user-cache.js';

/**
 * Start a new embedded history at `location` as a copy of an empty PGlite database kept in the
 * user's cache (`~/.cache/seedfork/history/pglite-<version>`, made by the first store this user
 * creates). PGlite's initdb runs in WebAssembly: 5-7 s on a 2-core machine, where the copy (about
 * 40 MB) takes well under a second, so only the first new store pays it.
 *
 * Does nothing when `location` already holds anything (an existing store, or a damaged one that
 * opening must name), or when the cache cannot be written: PGlite then makes the store itself.
 * The caller holds the store's lock, so no one else creates `location` meanwhile.
 * @returns the cached database copied, or undefined when none was
 * @throws Error when `location` is a file (opening the store then says it cannot be opened)
 */
export async function startFromEmptyStore(location: string): Promise<string | undefined> {
  if (existsSync(location) && readdirSync(location).length > 0) return undefined;
  const template = await emptyStore();
  if (!template) return undefined;
  const staging = `${location}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    cpSync(template, staging, { recursive: true });
    rmSync(location, { recursive: true, force: true }); // an empty directory, if any
    renameSync(staging, location);
    return template;
  } catch {
    return undefined; // PGlite creates the store where the copy could not
  } finally {
    removeQuietly(staging);
  }
}

/**
 * Forget a cached empty database that could not be opened (damaged since it was made), and the
 * store just copied from it, so that the next try makes both afresh.
 */
export function discardEmptyStore(template: string, copy: string): void {
  removeQuietly(copy);
  removeQuietly(template);
}

/** The cached empty database for this PGlite version, made now when missing; undefined when it cannot be made. */
async function emptyStore(): Promise<string | undefined> {
  const version = pgliteVersion();
  if (!version) return undefined;
  const dir = userCacheDir('history', `pglite-${version}`);
  // complete when present: it is renamed into place only after PGlite closed it
  if (existsSync(join(dir, 'PG_VERSION'))) return dir;
  const staging = `${dir}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    const { PGlite } = await import('@electric-sql/pglite');
    const db = new PGlite(staging);
    await db.waitReady;
    await db.close();
    try {
      renameSync(staging, dir);
    } catch (error) {
      // another process made it first
      if (!existsSync(join(dir, 'PG_VERSION'))) throw error;
    }
    return dir;
  } catch {
    return undefined;
  } finally {
    removeQuietly(staging);
  }
}

/** The installed PGlite's version: databases made by one version are not reused by another. */
function pgliteVersion(): string | undefined {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as {
      name?: string;
      version?: string;
    };
    if (name === '@electric-sql/pglite' && version) return version;
  }
  return undefined;
}

/** Remove what a copy left, if anything; a path that cannot even be looked at has nothing to remove. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // ENOTDIR, EACCES: nothing of ours is there
  }
}
