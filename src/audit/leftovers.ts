import picomatch from 'picomatch';
import type { Sandbox } from '../sandbox/types.js';

/** What one test file left behind in its sandbox, and the addresses it bound while it ran. */
export interface Leftovers {
  file: string;
  /**
   * Every address the file's processes bound while it ran, short-lived ones included (traced by
   * the sandbox's seccomp filter; see ExecOptions.traceBinds): `inet ADDR PORT`, `inet6 ADDR
   * PORT`, `unix PATH`, `unix @NAME`. Absent where binds could not be traced.
   */
  binds?: string[];
  /** Absolute paths inside the sandbox, sorted. */
  files: { created: string[]; changed: string[]; deleted: string[] };
  /** Processes started by the test that were still running when it ended (pid inside the sandbox). */
  processes: { pid: number; command: string }[];
  /** TCP ports listening after the test that were not listening before it. */
  ports: { address: string; port: number }[];
  /** Tables whose row counters changed, from PostgreSQL's pg_stat_user_tables. */
  tables: { service: string; table: string; inserted: number; updated: number; deleted: number }[];
  /** What could not be inspected, and why. */
  notes: string[];
}

/** State of a sandbox before a test ran, to tell the test's leftovers from the fork's own. */
export interface Baseline {
  pids: Set<number>;
  ports: Set<string>;
  tables: Map<string, TableCounters>;
}

interface TableCounters {
  ins: number;
  upd: number;
  del: number;
}

/**
 * Paths that change in every sandbox and say nothing about a test: seedfork's report
 * directory, service data (PostgreSQL's files), package manager logs and caches.
 */
export const DEFAULT_IGNORE = [
  '/tmp/.seedfork-junit/**',
  '/var/lib/seedfork/**',
  '**/.cache/seedfork-services/**',
  '**/.npm/_logs/**',
  '**/node_modules/.cache/**',
  '**/__pycache__/**',
  '**/.pytest_cache/**',
];

/** Row counters of every user table, per PostgreSQL service (`<service>\t<table>` keys). */
export type TableReader = () => Promise<Map<string, TableCounters>>;

/**
 * Read pg_stat_user_tables through `psql` inside the sandbox, for each PostgreSQL service
 * (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-TABLES-VIEW).
 * A backend's counters reach the view when it ends, so this is read after the test's
 * connections closed.
 */
export function postgresTableReader(
  sandbox: Sandbox,
  services: { name: string; psql: string; url: string }[],
  env: Record<string, string>,
): TableReader {
  const sql =
    "select schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_user_tables order by 1";
  return async () => {
    const counters = new Map<string, TableCounters>();
    for (const service of services) {
      const r = await sandbox.exec([service.psql, '-XAtq', '-F', '\t', '-d', service.url, '-c', sql], {
        env,
        timeoutMs: 30_000,
      });
      if (r.exitCode !== 0)
        throw new Error(`psql for ${service.name} exited ${r.exitCode}: ${r.output.trim()}`);
      for (const line of r.output.split('\n')) {
        const [table, ins, upd, del] = line.split('\t');
        if (!table || del === undefined) continue;
        counters.set(`${service.name}\t${table}`, { ins: Number(ins), upd: Number(upd), del: Number(del) });
      }
    }
    return counters;
  };
}

/** Record the sandbox's processes, ports and table counters before a test runs. */
export async function takeBaseline(sandbox: Sandbox, tables?: TableReader): Promise<Baseline> {
  return {
    pids: new Set((await sandbox.processes()).map((p) => p.pid)),
    ports: new Set((await sandbox.listeningSockets()).map((p) => `${p.address}:${p.port}`)),
    tables: tables ? await tables() : new Map(),
  };
}

/**
 * What a test file left in its sandbox, compared with `baseline`: files (minus `ignore`
 * globs on sandbox paths), processes still running, new listening ports, and tables whose
 * pg_stat_user_tables counters moved. Never throws: what cannot be read becomes a note.
 */
export async function collectLeftovers(
  file: string,
  sandbox: Sandbox,
  baseline: Baseline,
  options: { ignore: string[]; tables?: TableReader; binds?: string[] },
): Promise<Leftovers> {
  const notes: string[] = [];
  const isIgnored = picomatch([...DEFAULT_IGNORE, ...options.ignore], { dot: true });
  let files: Leftovers['files'] = { created: [], changed: [], deleted: [] };
  try {
    files = await sandbox.changedFiles(isIgnored);
  } catch (error) {
    notes.push(`files: ${(error as Error).message}`);
  }
  const processes = (await sandbox.processes()).filter((p) => !baseline.pids.has(p.pid));
  const ports = (await sandbox.listeningSockets()).filter(
    (p) => !baseline.ports.has(`${p.address}:${p.port}`),
  );
  const tables: Leftovers['tables'] = [];
  if (options.tables) {
    try {
      // A closing backend reports its counters as it exits: read until two reads agree.
      let after = await options.tables();
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 150));
        const again = await options.tables();
        const same =
          again.size === after.size &&
          [...again].every(([k, v]) => {
            const w = after.get(k);
            return w !== undefined && w.ins === v.ins && w.upd === v.upd && w.del === v.del;
          });
        after = again;
        if (same) break;
      }
      for (const [key, now] of after) {
        const before = baseline.tables.get(key) ?? { ins: 0, upd: 0, del: 0 };
        const delta = { ins: now.ins - before.ins, upd: now.upd - before.upd, del: now.del - before.del };
        if (delta.ins || delta.upd || delta.del) {
          const [service, table] = key.split('\t') as [string, string];
          tables.push({ service, table, inserted: delta.ins, updated: delta.upd, deleted: delta.del });
        }
      }
    } catch (error) {
      notes.push(`tables: ${(error as Error).message}`);
    }
  }
  return { file, ...(options.binds ? { binds: options.binds } : {}), files, processes, ports, tables, notes };
}
