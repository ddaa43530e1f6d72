import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config/load.js';
import { findPostgresBin } from '../src/seed/services/postgres.js';

/** Flags of `initdb` for a throwaway cluster: trust auth, no fsync, a fixed locale. */
export const INITDB_FLAGS = ['-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'];

/** The host's PostgreSQL server binaries and the `postgres` account that runs them, for the
 * benches' baselines (a cluster on the host, outside any sandbox). */
export function hostPostgres(): { bin: string; uid: number; gid: number } {
  const bin = findPostgresBin(
    parseConfig({ seed: { services: { postgres: {} } }, test: { include: ['x'] } }).seed.services
      .postgres as never,
  );
  const [uid, gid] = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))!
    .split(':')
    .slice(2, 4)
    .map(Number) as [number, number];
  return { bin, uid, gid };
}
