import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hostPostgres, INITDB_FLAGS } from '../../bench/host-postgres.js';

/** A throwaway PostgreSQL cluster on the host (outside any sandbox), for tests; needs root. */
export interface HostPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stop it (immediate shutdown) and remove its data directory. */
  stop(): void;
}

/**
 * initdb and start a cluster as the `postgres` account, on a port derived from the pid plus
 * `offset` (so parallel test files do not collide), with extra `-c` settings.
 */
export function startHostPostgres(offset = 0, settings: Record<string, string | number> = {}): HostPostgres {
  const { bin, uid, gid } = hostPostgres();
  const dir = mkdtempSync('/tmp/seedfork-test-pg-');
  chownSync(dir, uid, gid);
  const as = { uid, gid, stdio: 'ignore' as const };
  execFileSync(join(bin, 'initdb'), ['-D', join(dir, 'data'), ...INITDB_FLAGS], as);
  const port = 20000 + ((process.pid * 7 + offset) % 20000);
  const extra = Object.entries(settings)
    .map(([k, v]) => ` -c ${k}=${v}`)
    .join('');
  execFileSync(
    join(bin, 'pg_ctl'),
    [
      '-D',
      join(dir, 'data'),
      '-w',
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off${extra}`,
      'start',
    ],
    as,
  );
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      spawnSync(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop'], as);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
