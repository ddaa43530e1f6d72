import { join } from 'node:path';

/** Where Jest keeps its transform cache (ts-jest's and babel-jest's too) under seedfork (a
 * module of its own: the Jest runner needs it before it loads the rest of seedfork). */
export function jestCacheDir(root: string): string {
  return join(root, 'node_modules/.cache/seedfork-jest');
}
