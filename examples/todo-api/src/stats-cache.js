import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

// Expensive aggregates are cached on disk, next to the app, and reused across processes
// until a write invalidates them.
const dir = new URL('../.cache/', import.meta.url).pathname;
const file = `${dir}stats.json`;

/** Cached stats for this database server instance (`instance`: its start time), if any. */
export function readStats(instance) {
  if (!existsSync(file)) return undefined;
  const { instance: cachedFor, stats } = JSON.parse(readFileSync(file, 'utf8'));
  return cachedFor === instance ? stats : undefined;
}

export function writeStats(instance, stats) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify({ instance, stats }));
}

export function invalidateStats() {
  rmSync(file, { force: true });
}
