import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * seedfork's cache directory for this user, shared by every project: `$XDG_CACHE_HOME/seedfork`,
 * else `~/.cache/seedfork` (XDG Base Directory Specification), with `parts` joined below it.
 * Holds what is slow to make and the same for every project: microvm kernels and root images,
 * the embedded history's empty database.
 */
export function userCacheDir(...parts: string[]): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'seedfork', ...parts);
}
