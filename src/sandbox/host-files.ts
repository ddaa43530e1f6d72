import { constants, lstatSync, readlinkSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, open, symlink } from 'node:fs/promises';
import { SeedforkError } from '../errors/seedfork-error.js';
import { FileTooLargeError } from './types.js';

/** The largest file {@link hostFiles.read} returns (a runner's JSON report of a big suite fits). */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

/**
 * The host path of `path` inside a sandbox whose root is the host directory `root`, with every
 * symbolic link on the way resolved inside that root, as openat2(2)'s RESOLVE_IN_ROOT does: an
 * absolute link planted by a test ("report.xml -> /etc/shadow") points into the sandbox, not at
 * the host. Missing components are kept as they are.
 * @throws SeedforkError after 40 links (ELOOP, as the kernel counts).
 */
export function resolveInRoot(root: string, path: string): string {
  const todo = path.split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = `${root}/${[...done, part].join('/')}`;
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // missing: nothing below it can be a link
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > 40) throw new SeedforkError(`too many symbolic links resolving ${path} in the sandbox`);
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter(Boolean));
  }
  return `${root}/${done.join('/')}`;
}

/**
 * The file methods of a {@link Sandbox} for backends whose sandbox files are reachable from the
 * host at some host path (the namespace backend through /proc/<pid>/root, `none` directly).
 * Each takes the host path of the sandbox path it was asked about.
 */
export const hostFiles = {
  /**
   * Contents of a regular file, or undefined when there is none, it is something else (a FIFO a
   * test put in its place would block the read forever; a device, a socket, a symbolic link) or
   * larger than `maxBytes` (then, with `tooLarge: 'throw'`, FileTooLargeError). Never blocks on
   * what a test left there: opened non-blocking, checked with fstat, and read for at most the
   * size it had then.
   */
  async read(
    hostPath: string,
    maxBytes = MAX_READ_BYTES,
    tooLarge: 'undefined' | 'throw' = 'undefined',
  ): Promise<Buffer | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(hostPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) return undefined;
      if (stat.size > maxBytes) {
        if (tooLarge === 'throw') throw new FileTooLargeError(hostPath, stat.size, maxBytes);
        return undefined;
      }
      const buffer = Buffer.alloc(stat.size);
      let offset = 0;
      while (offset < buffer.length) {
        const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
      }
      return buffer.subarray(0, offset);
    } catch (error) {
      if (error instanceof FileTooLargeError) throw error;
      return undefined;
    } finally {
      await handle.close();
    }
  },

  /** Write a regular file; a symbolic link or FIFO in its place is an error (never followed). */
  async write(hostPath: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
    const flags =
      constants.O_WRONLY |
      constants.O_CREAT |
      constants.O_TRUNC |
      constants.O_NOFOLLOW |
      constants.O_NONBLOCK;
    const handle = await open(hostPath, flags, options.mode ?? 0o644);
    try {
      if (!(await handle.stat()).isFile()) throw new SeedforkError(`${hostPath} is not a regular file`);
      await handle.writeFile(data);
      if (options.mode !== undefined) await handle.chmod(options.mode);
    } finally {
      await handle.close();
    }
  },

  /** mkdir -p; `mode` and `owner` apply to the last directory. */
  async makeDir(
    hostPath: string,
    options: { mode?: number; owner?: { uid: number; gid: number } } = {},
  ): Promise<void> {
    await mkdir(hostPath, { recursive: true });
    if (options.mode !== undefined) await chmod(hostPath, options.mode);
    if (options.owner) await chown(hostPath, options.owner.uid, options.owner.gid);
  },

  /** A symbolic link at `hostPath` to `target` (stored as given); EEXIST when there is one. */
  async symlink(target: string, hostPath: string): Promise<void> {
    await symlink(target, hostPath);
  },

  async exists(hostPath: string): Promise<boolean> {
    try {
      await lstat(hostPath);
      return true;
    } catch {
      return false;
    }
  },
};
