import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { commandLine } from '../proc-net.js';
import type { FileChanges, SandboxProcess } from '../types.js';

function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** The pid a host process has inside its PID namespace (last field of NSpid in /proc/<pid>/status). */
function pidInNamespace(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:\s*(.+)$/m)?.[1];
    return Number(line?.trim().split(/\s+/).at(-1) ?? pid);
  } catch {
    return pid;
  }
}

/** Every process in the PID namespace of `initPid` but the init itself, read from the host's /proc. */
export function namespaceProcesses(initPid: number): SandboxProcess[] {
  const ns = pidNamespace(initPid);
  if (!ns) return [];
  const out: SandboxProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid !== initPid && pidNamespace(pid) === ns)
      out.push({ pid: pidInNamespace(pid), command: commandLine(pid) });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/**
 * Walk the sandbox's copy-on-write upper layer (every file written since the fork) and its
 * private /tmp (a fresh tmpfs, so all of it is new). A path is `created` when no lower layer
 * (nor the host root below them) has it, `changed` when one does, and `deleted` for overlayfs
 * whiteouts (character devices 0/0:
 * https://docs.kernel.org/filesystems/overlayfs.html#whiteouts-and-opaque-directories).
 * Directories are listed only when they are new and empty.
 * @param upper host path of the upper layer
 * @param tmp host path of the sandbox's /tmp (undefined when the sandbox is gone)
 * @param lowers host paths of the snapshot's layers, top-most first
 */
export function overlayChanges(
  upper: string,
  tmp: string | undefined,
  lowers: string[],
  ignore: (path: string) => boolean,
): FileChanges {
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
  walk(upper, '/', false);
  if (tmp) {
    try {
      walk(tmp, '/tmp', true);
    } catch {
      // the sandbox is gone (its init exited): nothing to read in its /tmp
    }
  }
  return { created: created.sort(), changed: changed.sort(), deleted: deleted.sort() };
}
