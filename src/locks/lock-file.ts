import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { SeedforkError } from '../errors/seedfork-error.js';
import { alive } from './process-alive.js';

/**
 * Hold `path` as a lock file naming this process, for state only one process may use at a time
 * (the embedded history: PGlite keeps its database in one process's memory and writes it back;
 * the shared host of `--isolation none`: one set of services and process groups). The lock
 * appears with its content at once (a temporary file hard-linked into place), so no one ever
 * reads it half written. A lock whose process is gone is taken over, by one process at a time
 * (`<path>.takeover`, itself stale after 10 s), which checks again that the lock still names
 * the dead process before removing it. Waits up to `waitMs` for a live holder.
 * @param options.inUse the error message for a live holder's pid
 * @returns the function that lets go
 * @throws SeedforkError (`inUse`'s message) when another live process holds it all that time
 */
export async function holdLockFile(
  path: string,
  options: { waitMs: number; inUse: (holder: number) => string },
): Promise<() => void> {
  const deadline = Date.now() + options.waitMs;
  const mine = `${path}.${process.pid}.${Date.now()}`;
  writeFileSync(mine, String(process.pid));
  try {
    for (;;) {
      try {
        linkSync(mine, path);
        return () => rmSync(path, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(path);
      if (holder !== undefined && !alive(holder)) takeOver(path, holder);
      else if (Date.now() > deadline) {
        throw new SeedforkError(
          holder === undefined
            ? `the lock file ${path} names no process: remove it if no seedfork command is using what it guards`
            : options.inUse(holder),
        );
      } else await new Promise((done) => setTimeout(done, 50 + Math.random() * 100));
    }
  } finally {
    rmSync(mine, { force: true });
  }
}

/** The pid a lock file names, or undefined when it is gone or unreadable. */
function readHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Remove a lock its dead `holder` left, if it still names it, as the only process doing so. */
function takeOver(path: string, holder: number): void {
  const guard = `${path}.takeover`;
  try {
    mkdirSync(guard);
  } catch {
    // another process is taking over; a guard its crashed maker left goes after 10 s
    try {
      if (Date.now() - statSync(guard).mtimeMs > 10_000) rmSync(guard, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
    return;
  }
  try {
    if (readHolder(path) === holder) rmSync(path, { force: true });
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
}
