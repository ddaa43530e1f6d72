import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { globSync } from 'tinyglobby';

/**
 * Database names of the template pool, all under 63 bytes (PostgreSQL's NAMEDATALEN - 1) and
 * all lowercase, so they never need quoting. The state of a database is in its name, so that
 * any process (or a person with psql) can tell it from the catalog alone:
 * - `sftpl_<hash>`: the template, cloned from the seeded database once per hash;
 * - `sfpool_<hash>_<id>`: a fresh clone, ready to hand out;
 * - `sfused_<hash>_<id>`: handed out; dropped on release, or by the next pool when its
 *   holder is gone (a crashed test's database is never handed out again).
 */
export const names = {
  template: (hash: string) => `sftpl_${hash}`,
  building: (hash: string) => `sftpl_${hash}_building`,
  fresh: (hash: string, id: string) => `sfpool_${hash}_${id}`,
  used: (hash: string, id: string) => `sfused_${hash}_${id}`,
  /** A LIKE pattern matching every fresh database of `hash`. */
  freshPattern: (hash: string) => `sfpool\\_${hash}\\_%`,
  /** A LIKE pattern matching every handed-out database of any hash. */
  usedPattern: 'sfused\\_%',
  newId: () => randomBytes(6).toString('hex'),
};

/**
 * The template hash of a seedfork snapshot key (`SEEDFORK_SNAPSHOT_KEY`): its letters and digits,
 * lower-cased, at most 16. The pool inside a sandbox and the databases cloned at seed time
 * both name their template by it.
 */
export function templateHashOfKey(key: string): string {
  return key
    .replace(/[^0-9a-z]/gi, '')
    .toLowerCase()
    .slice(0, 16);
}

/** The `<id>` part of a pool database's name. */
export function idOf(name: string): string {
  return name.slice(name.lastIndexOf('_') + 1);
}

/**
 * The template hash from what makes the seeded database what it is, as IntegreSQL identifies
 * its templates: 16 hex digits of SHA-256 over each file's path and content (globs relative to
 * `cwd`, sorted), then the seed command.
 * @param files globs (tinyglobby syntax); a glob matching nothing adds nothing
 */
export function templateHash(files: string[], seed: string, cwd: string): string {
  const hash = createHash('sha256');
  const paths = globSync(files, { cwd, absolute: true, onlyFiles: true }).sort();
  for (const path of paths) {
    hash.update(`${relative(cwd, path)}\0`);
    hash.update(readFileSync(resolve(cwd, path)));
    hash.update('\0');
  }
  hash.update(seed);
  return hash.digest('hex').slice(0, 16);
}

/** `url` with its database replaced by `database` (user, password, host and options kept). */
export function urlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** The database a connection URL names (`postgres` when it names none). */
export function databaseOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  return name || 'postgres';
}
