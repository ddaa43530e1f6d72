import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import picomatch from 'picomatch';
import { globSync } from 'tinyglobby';
import type { Config } from '../config/schema.js';

/** The calls of seedfork/pg and its runner helpers that take a database from the pool. */
const TAKES_A_TEST_DATABASE =
  /\b(?:testDatabase|databaseFixtures|databasePerTest|withTestDatabase|testDatabaseFor)\b/;

/** Source files that may call them (tests and their support modules). */
const SOURCE_FILES = '**/*.{js,cjs,mjs,jsx,ts,cts,mts,tsx}';

/** More files than this under the tests' directories: assume a test takes a database. */
const MAX_FILES = 20_000;

/** Files bigger than this are bundles or generated, not tests: skipped (bytes). */
const MAX_FILE_BYTES = 1024 ** 2;

/**
 * The directory a glob's files (and their support modules) live under: the part before its
 * first wildcard (`test/**\/*.test.ts` → `test`, `**\/*.test.ts` → ``), a plain path's directory.
 */
function globBase(pattern: string): string {
  const { base, isGlob } = picomatch.scan(pattern);
  const dir = isGlob ? base : dirname(base);
  return dir === '.' ? '' : dir;
}

/**
 * Whether the suite takes test databases from the pool (testDatabase() of seedfork/pg, or the
 * Vitest, Jest and node:test helpers over it): some JavaScript or TypeScript file under the
 * directories of `test.include` calls one of them by name. A plain-text search, so a mention
 * in a comment counts too (the cost of a false yes is a pool nobody takes; of a false no,
 * databases cloned on demand).
 * @param root the project root (the config file's directory)
 */
export function suiteTakesTestDatabases(config: Config, root: string): boolean {
  const bases = [...new Set(config.test.include.map(globBase))];
  const files = globSync(
    bases.map((base) => (base ? `${base}/${SOURCE_FILES}` : SOURCE_FILES)),
    {
      cwd: root,
      dot: false,
      onlyFiles: true,
      ignore: ['**/node_modules/**', `${config.stateDir}/**`, '**/.git/**'],
    },
  );
  return files.length > MAX_FILES || files.some((file) => mentionsTake(join(root, file)));
}

function mentionsTake(path: string): boolean {
  try {
    if (statSync(path).size > MAX_FILE_BYTES) return false;
    return TAKES_A_TEST_DATABASE.test(readFileSync(path, 'utf8'));
  } catch {
    return false; // gone or unreadable: not a test of this run
  }
}

/**
 * `config.seed.services` as the snapshot is built and keyed: a PostgreSQL service's
 * `pool: 'auto'` becomes 0 when no test takes a test database (suiteTakesTestDatabases), so a
 * suite that never calls testDatabase() pays neither the clones' seed time (1-3 s) nor their
 * disk (about 8 MB each, 32 by default); otherwise `auto` stays, sized at seed time.
 * @param root the project root
 */
export function servicesToSeed(config: Config, root: string): Config['seed']['services'] {
  const services = config.seed.services;
  const autoPools = Object.values(services).some((s) => 'pool' in s && s.pool === 'auto');
  if (!autoPools || suiteTakesTestDatabases(config, root)) return services;
  return Object.fromEntries(
    Object.entries(services).map(([name, s]) =>
      'pool' in s && s.pool === 'auto' ? [name, { ...s, pool: 0 }] : [name, s],
    ),
  ) as Config['seed']['services'];
}
