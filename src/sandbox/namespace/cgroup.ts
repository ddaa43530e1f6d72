import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SeedforkError } from '../../errors/seedfork-error.js';
import type { ResourceLimits } from '../types.js';

/**
 * How this host exposes cgroups, decided once per process:
 * - `v2`: a unified hierarchy (pure v2, or the `unified` mount of a hybrid host) whose
 *   controllers we can use; limits are `memory.max` / `pids.max`, kill is `cgroup.kill`.
 * - `v1`: a hybrid host whose v2 side has no controllers: one directory per v1 controller
 *   (`memory`, `pids`), limits are `memory.limit_in_bytes` / `pids.max`.
 * - `none`: no writable cgroup filesystem (a normal user, a container); sandboxes still get
 *   a PID namespace, so killing them still ends every process, but no limits apply.
 * Source: Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/ in the kernel tree.
 */
export type CgroupLayout =
  | { kind: 'v2'; base: string; controllers: string[] }
  | { kind: 'v1'; bases: string[]; controllers: string[] }
  | { kind: 'none'; reason: string };

const CGROUP_ROOT = '/sys/fs/cgroup';
const GROUP_NAME = 'seedfork';

function ownCgroupPaths(): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers === undefined || path === undefined) continue;
    for (const c of controllers === '' ? [''] : controllers.split(',')) paths.set(c, path);
  }
  return paths;
}

function tryWrite(path: string, text: string): boolean {
  try {
    writeFileSync(path, text);
    return true;
  } catch {
    return false;
  }
}

function detectV2(mount: string, own: string): CgroupLayout | undefined {
  const available = readFileSync(join(mount, 'cgroup.controllers'), 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  const wanted = ['memory', 'pids'].filter((c) => available.includes(c));
  // No internal processes in v2: our own cgroup may hold processes, so sandboxes go beside it.
  const parent = own === '/' ? mount : dirname(join(mount, own));
  const base = join(parent, GROUP_NAME);
  try {
    mkdirSync(base, { recursive: true });
  } catch {
    return undefined;
  }
  if (wanted.length === 0) return undefined;
  const enabled = wanted.filter((c) => tryWrite(join(base, 'cgroup.subtree_control'), `+${c}`));
  return { kind: 'v2', base, controllers: enabled };
}

function detectV1(own: Map<string, string>): CgroupLayout | undefined {
  const bases: string[] = [];
  const controllers: string[] = [];
  for (const c of ['memory', 'pids']) {
    const mount = join(CGROUP_ROOT, c);
    const path = own.get(c);
    if (path === undefined || !existsSync(join(mount, 'cgroup.procs'))) continue;
    const base = join(mount, path, GROUP_NAME);
    try {
      mkdirSync(base, { recursive: true });
      bases.push(base);
      controllers.push(c);
    } catch {
      // not writable: skip this controller
    }
  }
  return bases.length > 0 ? { kind: 'v1', bases, controllers } : undefined;
}

let cached: CgroupLayout | undefined;

/** Detect (once) how sandboxes get cgroups on this host. Never throws. */
export function cgroupLayout(): CgroupLayout {
  if (cached) return cached;
  cached = detect();
  return cached;
}

function detect(): CgroupLayout {
  if (process.getuid?.() !== 0) return { kind: 'none', reason: 'cgroups need root' };
  try {
    const own = ownCgroupPaths();
    const unified = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))
      ? CGROUP_ROOT
      : existsSync(join(CGROUP_ROOT, 'unified', 'cgroup.controllers'))
        ? join(CGROUP_ROOT, 'unified')
        : undefined;
    if (unified) {
      const v2 = detectV2(unified, own.get('') ?? '/');
      if (v2) return v2;
    }
    return detectV1(own) ?? { kind: 'none', reason: 'no writable cgroup hierarchy with memory or pids' };
  } catch (error) {
    return { kind: 'none', reason: `cannot read cgroups: ${(error as Error).message}` };
  }
}

/** The base directories of a layout: one per v1 controller, or the one v2 group. */
function bases(layout: CgroupLayout): string[] {
  return layout.kind === 'v2' ? [layout.base] : layout.kind === 'v1' ? layout.bases : [];
}

/**
 * Where one run's sandboxes get their cgroups: `<base>/<project>/<run>/<sandbox>`, so that a
 * process cleaning up (`gc`) only ever looks below its own project's directory, and a run's
 * directory is removed as a whole once its lock is released.
 */
export interface CgroupScope {
  /** Stable per state directory (a hash of its path). */
  project: string;
  /** The run (seedfork process) that creates the sandboxes. */
  run: string;
}

/** Directories that make up one sandbox's cgroup (one per v1 controller, or one v2 group). */
export function sandboxCgroupDirs(layout: CgroupLayout, scope: CgroupScope, id: string): string[] {
  return bases(layout).map((b) => join(b, scope.project, scope.run, id));
}

/**
 * Create a sandbox's cgroup directories (and its project and run parents) and apply limits.
 * On v2 the parents delegate the memory and pids controllers to their children.
 * @returns the sandbox's directories
 * @throws when a directory cannot be created (the caller removes what was made).
 */
export function createSandboxCgroup(
  layout: CgroupLayout,
  scope: CgroupScope,
  id: string,
  limits: ResourceLimits,
): string[] {
  const dirs = sandboxCgroupDirs(layout, scope, id);
  for (const dir of dirs) {
    // A sandbox of this run being killed removes the parents once empty (releaseRunCgroup):
    // make them again if that happened between the two steps.
    for (let attempt = 0; ; attempt++) {
      for (const parent of [dirname(dirname(dir)), dirname(dir)]) {
        mkdirSync(parent, { recursive: true });
        if (layout.kind === 'v2') {
          for (const c of layout.controllers) tryWrite(join(parent, 'cgroup.subtree_control'), `+${c}`);
        }
      }
      try {
        mkdirSync(dir);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 10) throw error;
      }
    }
    const set = (v2: string, v1: string, value: number | undefined) => {
      if (value === undefined) return;
      const file = layout.kind === 'v2' ? v2 : v1;
      if (existsSync(join(dir, file))) writeFileSync(join(dir, file), String(value));
    };
    set('memory.max', 'memory.limit_in_bytes', limits.memoryBytes);
    set('pids.max', 'pids.max', limits.pids);
  }
  return dirs;
}

/** How often the kernel enforced a limit on a sandbox's cgroup so far. */
export interface LimitCounters {
  /** Processes the OOM killer ended (v2 `memory.events` oom_kill, v1 `memory.oom_control`). */
  oomKills: number;
  /** Forks refused at `pids.max` (`pids.events` max). */
  pidsRefused: number;
}

function counter(path: string, key: string): number {
  try {
    const line = readFileSync(path, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${key} `));
    return line ? Number(line.slice(key.length + 1)) : 0;
  } catch {
    return 0;
  }
}

/** Read the limit counters of a sandbox's cgroup directories (0 where a controller is missing). */
export function limitCounters(dirs: string[]): LimitCounters {
  let oomKills = 0;
  let pidsRefused = 0;
  for (const dir of dirs) {
    oomKills +=
      counter(join(dir, 'memory.events'), 'oom_kill') + counter(join(dir, 'memory.oom_control'), 'oom_kill');
    pidsRefused += counter(join(dir, 'pids.events'), 'max');
  }
  return { oomKills, pidsRefused };
}

/** PIDs (host namespace) still in any of the given cgroup directories. */
export function cgroupPids(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const dir of dirs) {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        if (line) pids.add(Number(line));
      }
    } catch {
      // directory already removed
    }
  }
  return [...pids];
}

/**
 * Kill every process in the cgroups, then remove them. Waits up to `timeoutMs` for the
 * kernel to release them.
 * @throws Error naming the directories that could not be removed.
 */
export async function destroySandboxCgroup(dirs: string[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let remaining = dirs.filter((d) => existsSync(d));
  while (remaining.length > 0) {
    for (const dir of remaining) {
      if (!tryWrite(join(dir, 'cgroup.kill'), '1')) {
        for (const pid of cgroupPids([dir])) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // exited meanwhile
          }
        }
      }
      try {
        rmdirSync(dir);
      } catch {
        // still busy; retry below
      }
    }
    remaining = remaining.filter((d) => existsSync(d));
    if (remaining.length === 0) return;
    if (Date.now() > deadline)
      throw new SeedforkError(`cgroups still busy after ${timeoutMs} ms: ${remaining.join(', ')}`, {
        hint: 'A process in them would not die (stuck in the kernel, D state): see `ps -eo pid,stat,cmd`; `seedfork gc` removes them once it exits.',
      });
    await sleep(10);
  }
}

/** A directory's subdirectories (none when it is missing). */
function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** Runs of a project that have a cgroup directory, each with its sandboxes' ids. */
export function listRunCgroups(layout: CgroupLayout, project: string): Map<string, string[]> {
  const runs = new Map<string, Set<string>>();
  for (const base of bases(layout)) {
    for (const run of subdirs(join(base, project))) {
      const ids = runs.get(run) ?? new Set<string>();
      for (const id of subdirs(join(base, project, run))) ids.add(id);
      runs.set(run, ids);
    }
  }
  return new Map([...runs].map(([run, ids]) => [run, [...ids]]));
}

/** Remove a run's cgroup directory, and its project's, once they hold nothing (best effort:
 * a kept sandbox, or another run's, keeps them). */
export function removeRunCgroup(layout: CgroupLayout, scope: CgroupScope): void {
  for (const base of bases(layout)) {
    for (const dir of [join(base, scope.project, scope.run), join(base, scope.project)]) {
      try {
        rmdirSync(dir);
      } catch {
        break; // not empty, or gone
      }
    }
  }
}

/** Every seedfork cgroup directory on this host: `<project>/`, `<project>/<run>/` and
 * `<project>/<run>/<id>` (for tests checking the host is clean). */
export function listAllSandboxCgroups(layout: CgroupLayout): string[] {
  const found = new Set<string>();
  for (const base of bases(layout))
    for (const project of subdirs(base)) {
      found.add(`${project}/`);
      for (const run of subdirs(join(base, project))) {
        found.add(`${project}/${run}/`);
        for (const id of subdirs(join(base, project, run))) found.add(`${project}/${run}/${id}`);
      }
    }
  return [...found];
}
