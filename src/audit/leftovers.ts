import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import type { Sandbox } from '../sandbox/types.js';

/** What one test file left behind in its sandbox. */
export interface Leftovers {
  file: string;
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

/** A sandbox the leftovers can be read from (the namespace backend's). */
export interface InspectableSandbox extends Sandbox {
  /** Host directory of the sandbox; its `upper/` holds every file the sandbox wrote. */
  readonly dir: string;
  readonly initPid: number;
}

function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Host pids of every process in the sandbox's PID namespace. */
function sandboxPids(sandbox: InspectableSandbox): number[] {
  const ns = pidNamespace(sandbox.initPid);
  if (!ns) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid !== sandbox.initPid && pidNamespace(pid) === ns) pids.push(pid);
  }
  return pids;
}

/** The pid a host process has inside its PID namespace (last field of NSpid in /proc/<pid>/status). */
function pidInSandbox(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:\s*(.+)$/m)?.[1];
    return Number(line?.trim().split(/\s+/).at(-1) ?? pid);
  } catch {
    return pid;
  }
}

function commandOf(pid: number): string {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmdline || readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/**
 * Listening TCP sockets of the sandbox's network namespace, from /proc/net/tcp and tcp6
 * (state 0A = LISTEN; addresses in the kernel's hex notation: proc(5)).
 */
function listening(sandbox: Sandbox): { address: string; port: number }[] {
  const out: { address: string; port: number }[] = [];
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(sandbox.procNet(file), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== '0A' || !fields[1]) continue;
      const [hexAddress, hexPort] = fields[1].split(':') as [string, string];
      out.push({ address: decodeAddress(hexAddress), port: Number.parseInt(hexPort, 16) });
    }
  }
  return out;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    return [3, 2, 1, 0].map((i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  }
  if (/^0+$/.test(hex)) return '::';
  if (hex === '00000000000000000000000001000000') return '::1';
  return hex;
}

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
export async function takeBaseline(sandbox: InspectableSandbox, tables?: TableReader): Promise<Baseline> {
  return {
    pids: new Set(sandboxPids(sandbox)),
    ports: new Set(listening(sandbox).map((p) => `${p.address}:${p.port}`)),
    tables: tables ? await tables() : new Map(),
  };
}

/**
 * Walk the sandbox's copy-on-write upper layer (every file written since the fork) and its
 * private /tmp (a fresh tmpfs, so all of it is new). A path is `created` when no lower layer
 * has it, `changed` when one does, and `deleted` for overlayfs whiteouts (character devices
 * 0/0: https://docs.kernel.org/filesystems/overlayfs.html#whiteouts-and-opaque-directories).
 * Directories are listed only when they are new and empty.
 */
function changedFiles(
  sandbox: InspectableSandbox,
  lowers: string[],
  ignore: (path: string) => boolean,
): Leftovers['files'] {
  const created: string[] = [];
  const changed: string[] = [];
  const deleted: string[] = [];
  const inLower = (path: string) => lowers.some((l) => existsSync(join(l, path))) || existsSync(path);
  // A walk stays on the filesystem it started on: a directory with an overlay of its own mounted
  // inside /tmp (a project checked out under /tmp) is read through its upper layer instead.
  const walk = (hostDir: string, sandboxDir: string, fresh: boolean, device = lstatSync(hostDir).dev) => {
    let entries: string[];
    try {
      entries = readdirSync(hostDir);
    } catch {
      return;
    }
    for (const name of entries) {
      const hostPath = join(hostDir, name);
      const path = join(sandboxDir, name);
      if (ignore(path) || ignore(`${path}/`)) continue;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(hostPath);
      } catch {
        continue;
      }
      if (st.isCharacterDevice() && st.rdev === 0 && !fresh) {
        deleted.push(path);
      } else if (st.isDirectory()) {
        if (st.dev !== device) continue;
        const isNew = fresh || !inLower(path);
        if (isNew && readdirSync(hostPath).length === 0) created.push(`${path}/`);
        walk(hostPath, path, isNew, device);
      } else if (fresh || !inLower(path)) {
        created.push(path);
      } else {
        changed.push(path);
      }
    }
  };
  walk(join(sandbox.dir, 'upper'), '/', false);
  try {
    walk(sandbox.hostPath('/tmp'), '/tmp', true);
  } catch {
    // the sandbox is gone (its init exited): nothing to read in its /tmp
  }
  return { created: created.sort(), changed: changed.sort(), deleted: deleted.sort() };
}

/**
 * What a test file left in its sandbox, compared with `baseline`: files (minus `ignore`
 * globs on sandbox paths), processes still running, new listening ports, and tables whose
 * pg_stat_user_tables counters moved. Never throws: what cannot be read becomes a note.
 */
export async function collectLeftovers(
  file: string,
  sandbox: InspectableSandbox,
  baseline: Baseline,
  options: { lowers: string[]; ignore: string[]; tables?: TableReader },
): Promise<Leftovers> {
  const notes: string[] = [];
  const isIgnored = picomatch([...DEFAULT_IGNORE, ...options.ignore], { dot: true });
  let files: Leftovers['files'] = { created: [], changed: [], deleted: [] };
  try {
    files = changedFiles(sandbox, options.lowers, isIgnored);
  } catch (error) {
    notes.push(`files: ${(error as Error).message}`);
  }
  const processes = sandboxPids(sandbox)
    .filter((pid) => !baseline.pids.has(pid))
    .map((pid) => ({ pid: pidInSandbox(pid), command: commandOf(pid) }));
  const ports = listening(sandbox).filter((p) => !baseline.ports.has(`${p.address}:${p.port}`));
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
  return { file, files, processes, ports, tables, notes };
}
