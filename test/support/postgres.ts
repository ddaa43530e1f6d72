import { type HostCluster, startHostCluster } from '../../bench/host-postgres.js';

export type HostPostgres = HostCluster;

/**
 * A throwaway PostgreSQL cluster for a test file (root only), fsync off, on a port derived
 * from the pid plus `offset`, so that test files running at once do not collide.
 */
export function startHostPostgres(offset = 0, settings: Record<string, string | number> = {}): HostPostgres {
  return startHostCluster(20000 + ((process.pid * 7 + offset) % 20000), { fsync: 'off', ...settings });
}
