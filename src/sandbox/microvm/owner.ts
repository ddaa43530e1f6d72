import { readFileSync } from 'node:fs';

/**
 * A process, named so that a reused pid is not mistaken for it: `<pid>:<start time>`, the start
 * time in clock ticks after boot (field 22 of /proc/<pid>/stat, proc(5)).
 */
export type OwnerId = string;

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
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
