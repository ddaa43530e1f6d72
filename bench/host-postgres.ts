import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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

/** A throwaway PostgreSQL cluster on the host (outside any sandbox), for benches and tests. */
export interface HostCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stop it (immediate shutdown) and remove its data directory. Never throws. */
  stop(): void;
}

/**
 * initdb and start a cluster as the `postgres` account (root only) in a fresh directory under
 * /tmp, listening on 127.0.0.1:`port` with extra `-c` settings (for example fsync off).
 */
export function startHostCluster(port: number, settings: Record<string, string | number> = {}): HostCluster {
  const { bin, uid, gid } = hostPostgres();
  const dir = mkdtempSync('/tmp/seedfork-pg-');
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const as = { uid, gid, stdio: 'ignore' as const };
  execFileSync(join(bin, 'initdb'), ['-D', data, ...INITDB_FLAGS], as);
  const extra = Object.entries(settings)
    .map(([k, v]) => ` -c ${k}=${v}`)
    .join('');
  execFileSync(
    join(bin, 'pg_ctl'),
    [
      '-D',
      data,
      '-w',
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir}${extra}`,
      'start',
    ],
    as,
  );
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      spawnSync(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'], as);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
