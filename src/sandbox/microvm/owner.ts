import { readFileSync } from 'node:fs';

/**
 * A process, named so that a reused pid is not mistaken for it: `<pid>:<start time>`, the start
 * time in clock ticks after boot (field 22 of /proc/<pid>/stat, proc(5)).
 */
export type OwnerId = string;

/** The fields of /proc/<pid>/stat after the command name (proc(5): state first), or undefined when it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function startTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** Whether process `pid` runs (a zombie does not). */
export function processRunning(pid: number | undefined): boolean {
  const state = pid ? statFields(pid)?.[0] : undefined;
  return state !== undefined && state !== 'Z';
}

/** Resolves once none of `pids` runs ({@link processRunning}), or after `timeoutMs`. */
export async function waitUntilGone(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(processRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** This process's {@link OwnerId}. */
export function currentOwner(): OwnerId {
  return `${process.pid}:${startTime(process.pid)}`;
}

/** Whether the process `owner` names still runs. */
export function ownerAlive(owner: OwnerId | undefined): boolean {
  if (!owner) return false;
  const [pid, start] = owner.split(':');
  return start !== undefined && startTime(Number(pid)) === start;
}

/** The pid in `owner`. */
export function ownerPid(owner: OwnerId): number {
  return Number(owner.split(':')[0]);
}
