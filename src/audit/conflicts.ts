import type { Leftovers } from './leftovers.js';
import type { ClassifiedTest } from './types.js';

/** What two test files both use that a shared environment would make them fight over. */
export interface Conflict {
  kind: 'port' | 'file' | 'table';
  /** `127.0.0.1:8080` (or `port 8080` when one side binds every address; `unix @name` for an
   * abstract unix socket), a path, `<service> <table>`. */
  resource: string;
  /** The two files, sorted. */
  files: [string, string];
  /** "both bind 127.0.0.1:8080", "both write /tmp/session.json", "both write table public.accounts". */
  description: string;
  /** How to take the sharing away. */
  hint: string;
  /**
   * The files of the pair whose tests never failed in any run of the audit: *conflict
   * partners*, which won every race so far but take part in it (not flaky themselves).
   */
  partners: string[];
}

const HINTS: Record<Conflict['kind'], string> = {
  port: 'bind port 0 and pass the port the system picked to whoever connects, or give each worker a port of its own',
  file: 'write into a temporary directory of its own (fs.mkdtemp, tmp_path, t.TempDir) instead of a fixed path',
  table:
    'give each worker a database of its own (a template-database pool), or run each test in a transaction rolled back at its end',
};

const WILDCARDS = new Set(['0.0.0.0', '::']);

/** A bound address from the trace (`inet ADDR PORT`, `inet6 ADDR PORT`, `unix PATH`). */
interface Bind {
  address: string;
  port: number;
}

function parseBind(line: string): Bind | { path: string } | undefined {
  const inet = /^inet6? (\S+) (\d+)$/.exec(line);
  if (inet) return { address: inet[1]!, port: Number(inet[2]) };
  const unix = /^unix (.+)$/.exec(line);
  return unix ? { path: unix[1]! } : undefined;
}

/** The port two binds fight over, or undefined: the same port on the same or a wildcard address. */
function sharedPort(a: Bind, b: Bind): string | undefined {
  if (a.port !== b.port) return undefined;
  if (a.address === b.address)
    return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return WILDCARDS.has(a.address) || WILDCARDS.has(b.address) ? `port ${a.port}` : undefined;
}

/** Each file's resources, by kind: what it binds, the paths it writes, the tables it writes. */
interface Footprint {
  file: string;
  binds: Bind[];
  paths: Set<string>;
  /** Abstract unix sockets (`@name`): one namespace per network namespace, so the host's is shared. */
  abstract: Set<string>;
  tables: Set<string>;
}

function footprintOf(l: Leftovers): Footprint {
  const binds: Bind[] = [];
  const abstract = new Set<string>();
  const paths = new Set([...l.files.created, ...l.files.changed, ...l.files.deleted]);
  for (const line of l.binds ?? []) {
    const bind = parseBind(line);
    if (!bind) continue;
    if ('path' in bind) {
      if (bind.path.startsWith('@')) abstract.add(bind.path);
      else paths.add(bind.path);
    } else if (!binds.some((b) => b.address === bind.address && b.port === bind.port)) binds.push(bind);
  }
  for (const p of l.ports) {
    if (!binds.some((b) => b.address === p.address && b.port === p.port))
      binds.push({ address: p.address, port: p.port });
  }
  const tables = new Set(l.tables.map((t) => `${t.service} ${t.table}`));
  return { file: l.file, binds, paths, abstract, tables };
}

/**
 * Every pair of test files whose footprints in the isolated runs overlap on a resource a shared
 * environment makes them fight over: both bind the same port (on the same address, or one on
 * every address), both write the same path (a file, or a unix socket), or both write the same
 * database table. Both sides are named, whichever lost the race on the shared host; a side whose
 * tests never failed is a conflict partner. Paths every file writes (with three files or more)
 * are the runner's or the tools' own state, not the tests': they are left out and returned in
 * `common`.
 * @param leftovers each file's leftovers from its isolated run, with the binds traced
 * @param tests the audit's classified tests (for which files ever failed)
 */
export function findConflicts(
  leftovers: Leftovers[],
  tests: ClassifiedTest[],
): { conflicts: Conflict[]; common: string[] } {
  const prints = leftovers.map(footprintOf).sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const common =
    prints.length >= 3 ? [...prints[0]!.paths].filter((p) => prints.every((f) => f.paths.has(p))).sort() : [];
  const everFailed = new Set(
    tests.filter((t) => t.observations.some((o) => o.status === 'failed')).map((t) => t.file),
  );
  const conflicts: Conflict[] = [];
  const add = (kind: Conflict['kind'], resource: string, a: string, b: string, description: string) =>
    conflicts.push({
      kind,
      resource,
      files: [a, b],
      description,
      hint: HINTS[kind],
      partners: [a, b].filter((f) => !everFailed.has(f)),
    });
  for (let i = 0; i < prints.length; i++) {
    for (let j = i + 1; j < prints.length; j++) {
      const [a, b] = [prints[i]!, prints[j]!];
      const ports = new Set<string>();
      for (const x of a.binds)
        for (const y of b.binds) {
          const port = sharedPort(x, y);
          if (port) ports.add(port);
        }
      for (const port of [...ports].sort()) add('port', port, a.file, b.file, `both bind ${port}`);
      for (const name of [...a.abstract].filter((n) => b.abstract.has(n)).sort())
        add('port', `unix ${name}`, a.file, b.file, `both bind the abstract unix socket ${name}`);
      for (const path of [...a.paths].filter((p) => b.paths.has(p) && !common.includes(p)).sort())
        add('file', path, a.file, b.file, `both write ${path}`);
      for (const table of [...a.tables].filter((t) => b.tables.has(t)).sort()) {
        const name = table.split(' ')[1]!;
        add('table', table, a.file, b.file, `both write table ${name}`);
      }
    }
  }
  return { conflicts, common };
}
