import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SeedforkError } from '../../errors/seedfork-error.js';

const run = promisify(execFile);

/** The Debian package of each host command the microvm backend runs. */
const PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  cp: 'coreutils',
  debugfs: 'e2fsprogs',
  'dpkg-deb': 'dpkg',
  'mkfs.ext4': 'e2fsprogs',
  mmdebstrap: 'mmdebstrap',
  'qemu-img': 'qemu-utils',
  setpriv: 'util-linux',
};

/**
 * Run a host command the microvm backend needs (building images and disks) to completion.
 * @returns its stdout
 * @throws SeedforkError "the microvm backend needs <command>" with the `apt-get install` line when
 *   it is not installed; else `failure`, with `hint` and the last 30 lines of its output
 */
export async function runHostTool(
  command: string,
  args: string[],
  failure: string,
  options: { cwd?: string; hint?: string } = {},
): Promise<string> {
  try {
    return (await run(command, args, { cwd: options.cwd, maxBuffer: 64 << 20 })).stdout;
  } catch (error) {
    const e = error as { code?: string; stderr?: string; stdout?: string };
    if (e.code === 'ENOENT')
      throw new SeedforkError(`the microvm backend needs ${command}, which is not installed`, {
        hint: `apt-get install ${PACKAGES[command] ?? command}`,
        cause: error,
      });
    throw new SeedforkError(failure, {
      hint: options.hint,
      details: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n'),
      cause: error,
    });
  }
}

/**
 * Check that every command in `commands` is on PATH.
 * @throws SeedforkError "the microvm backend needs <command>" with the `apt-get install` line
 */
export function requireHostTools(commands: readonly string[]): void {
  for (const command of commands)
    if (!findOnPath(command))
      throw new SeedforkError(`the microvm backend needs ${command}, which is not installed`, {
        hint: `apt-get install ${PACKAGES[command] ?? command}`,
      });
}

/** Where `command` is on PATH, or undefined. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean)) {
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}
