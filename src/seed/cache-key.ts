import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { globSync } from 'tinyglobby';
import type { Config } from '../config/schema.js';
import { seedforkVersion } from '../config/seedfork-version.js';
import { servicesToSeed } from './pool-demand.js';

/** Bumped when the snapshot layout changes, so old caches are not reused. */
export const SNAPSHOT_FORMAT = 1;

/** A config's snapshot key, with what it was computed from (see seedCacheKey). */
export interface SeedCacheKey {
  /** 16 hex digits. */
  key: string;
  /** The files `seed.inputs` matched, relative to the project root, sorted. */
  inputs: string[];
  /** The services as the snapshot seeds them (servicesToSeed). */
  services: Config['seed']['services'];
}

/**
 * The snapshot cache key: SHA-256 (hex, first 16 chars) over the contents of every file
 * matched by `seed.inputs` (sorted by path), the seed steps, the services as seeded
 * (servicesToSeed: an `auto` pool is 0 for a suite that takes no test database), the network mode
 * and seedfork's version (what its service drivers bake into a snapshot, such as PostgreSQL's
 * settings, may change with it: an upgrade seeds afresh). Same inputs and version on any
 * machine give the same key. Also returns the inputs hashed and the services as seeded (the
 * build seeds exactly what the key names).
 * @param version seedfork's version to key by (default: this package's)
 */
export function seedCacheKey(
  config: Config,
  root: string,
  version: string = seedforkVersion(),
): SeedCacheKey {
  const hash = createHash('sha256');
  const services = servicesToSeed(config, root);
  const inputs = globSync(config.seed.inputs, {
    cwd: root,
    dot: true,
    ignore: ['**/node_modules/**', `${config.stateDir}/**`],
  }).sort();
  hash.update(
    JSON.stringify({
      format: SNAPSHOT_FORMAT,
      seedfork: version,
      root,
      steps: config.seed.steps,
      services,
      network: config.seed.network,
      patterns: config.seed.inputs,
    }),
  );
  for (const file of inputs) {
    hash.update(`\0${file}\0`);
    hash.update(readFileSync(join(root, file)));
  }
  return { key: hash.digest('hex').slice(0, 16), inputs, services };
}
