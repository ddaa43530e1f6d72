import { formatSize } from '../config/size.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import { diskSpace } from './disk-space.js';

/**
 * What tools print when a write fails for want of space: errno ENOSPC's and EDQUOT's strerror
 * text (glibc, musl), Node's error codes, and PostgreSQL's "could not extend file" (its message
 * when a relation cannot grow; see PostgreSQL's md.c).
 */
const DISK_FULL_TEXT =
  /No space left on device|\bENOSPC\b|Disk quota exceeded|\bEDQUOT\b|could not extend file/i;

/** Below this much free space a failure is worth blaming on the disk even when nothing says so. */
const LOW_FREE_BYTES = 64 * 1024 ** 2;

/** Errors explainDiskFull made: explained once, they pass through it unchanged. */
const explained = new WeakSet<object>();

/**
 * Whether `error` (its code, message, SeedforkError details, or any error in its `cause` chain)
 * says a write failed with ENOSPC or EDQUOT.
 */
export function mentionsDiskFull(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (typeof e !== 'object') return DISK_FULL_TEXT.test(String(e));
    const { code, message, details } = e as { code?: unknown; message?: unknown; details?: unknown };
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (typeof message === 'string' && DISK_FULL_TEXT.test(message)) return true;
    if (typeof details === 'string' && DISK_FULL_TEXT.test(details)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Say so when seeding or forking failed for want of disk space: the step's or service's own error
 * (an initdb that could not write, a step that printed "No space left on device") becomes one that
 * says a write ran out of space, how much the filesystem holding seedfork's state has free now
 * (what the failed seed wrote is removed by then), and what to do: `seedfork gc` or free space,
 * or write less to /tmp and /dev/shm, which stop at their own size whatever the disk has free. A
 * failure that does not mention the disk but happened with less than 64 MiB free keeps its
 * message and gets the free space added to its hint.
 * @param error what seeding or forking threw
 * @param dir the state directory (where snapshots and sandboxes' writes live)
 * @returns `error` unchanged when the disk is not to blame (or the run was cancelled, or `error`
 *   is already one this function returned: a backend's fork and the run's environment both
 *   explain), else a SeedforkError with `error` as its cause and its details kept.
 */
export function explainDiskFull(error: unknown, dir: string): unknown {
  if (error instanceof CancelledError || (error instanceof Error && explained.has(error))) return error;
  const space = diskSpace(dir);
  const full = mentionsDiskFull(error);
  if (!full && (space === undefined || space.freeBytes >= LOW_FREE_BYTES)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof SeedforkError ? error.details : undefined;
  const where = space
    ? `${formatSize(space.freeBytes)} of ${formatSize(space.totalBytes)} is free now on the filesystem holding ${dir}`
    : `the filesystem holding ${dir} cannot be read`;
  const remedy =
    'Free space there (`seedfork gc` removes old snapshots and kept sandboxes) or set `stateDir` to a larger filesystem, then run again; nothing was cached.';
  if (!full) {
    const hint = error instanceof SeedforkError && error.hint ? `${error.hint} ` : '';
    return remember(
      new SeedforkError(message, {
        details,
        cause: error,
        hint: `${hint}Only ${formatSize(space!.freeBytes)} is free on the filesystem holding ${dir}: if a write failed for want of space, that is why. ${remedy}`,
      }),
    );
  }
  return remember(
    new SeedforkError(`${message}: a write ran out of disk space (${where})`, {
      details,
      cause: error,
      hint: `${remedy} Writes to /tmp and /dev/shm stop at their own size whatever the disk has free (64 MiB while seeding, limits.disk in a test's sandbox): write large files elsewhere.`,
    }),
  );
}

function remember(error: SeedforkError): SeedforkError {
  explained.add(error);
  return error;
}
