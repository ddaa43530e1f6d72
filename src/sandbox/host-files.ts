import { chmod, chown, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';

/**
 * The file methods of a {@link Sandbox} for backends whose sandbox files are reachable from the
 * host at some host path (the namespace backend through /proc/<pid>/root, `none` directly).
 * Each takes the host path of the sandbox path it was asked about.
 */
export const hostFiles = {
  /** Contents of a regular file, or undefined when there is none (or it cannot be read). */
  async read(hostPath: string): Promise<Buffer | undefined> {
    try {
      return await readFile(hostPath);
    } catch {
      return undefined;
    }
  },

  async write(hostPath: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
    await writeFile(hostPath, data, options.mode !== undefined ? { mode: options.mode } : {});
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

  async exists(hostPath: string): Promise<boolean> {
    try {
      await lstat(hostPath);
      return true;
    } catch {
      return false;
    }
  },
};
