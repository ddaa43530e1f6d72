import { existsSync, readdirSync, statSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';

/** Whether this Node has the module compile cache (module.enableCompileCache, Node >= 22.1). */
export const hasCompileCache =
  typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';

/** seedfork's compile cache under an XDG_CACHE_HOME of a test's own (compile-cache.cts). */
export function compileCacheUnder(xdgCacheHome: string): string {
  return join(xdgCacheHome, 'seedfork', 'compile-cache');
}

/**
 * The files under `dir`, at any depth, with their modification times in ms (none when `dir`
 * does not exist): a cache that was read and not written again keeps them all the same.
 */
export function filesWithTimes(dir: string): Record<string, number> {
  if (!existsSync(dir)) return {};
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  return Object.fromEntries(
    files.map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return [path, statSync(path).mtimeMs];
    }),
  );
}
