import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { globSync } from 'tinyglobby';
import type { FoundFile } from './types.js';

/**
 * Files below host directory `dir` matching `patterns` (relative globs, dotfiles included,
 * never below node_modules), with their modification times. Only regular files: symbolic links
 * are neither followed nor listed, since a test may leave a loop, or a link out of the sandbox. A backend whose sandbox
 * files are reachable from the host implements {@link Sandbox.findFiles} with it.
 */
export function findFilesIn(dir: string, patterns: readonly string[]): FoundFile[] {
  if (patterns.length === 0) return [];
  const out: FoundFile[] = [];
  for (const path of globSync([...patterns], {
    cwd: dir,
    onlyFiles: true,
    dot: true,
    followSymbolicLinks: false,
    ignore: ['**/node_modules/**'],
  })) {
    try {
      const st = lstatSync(join(dir, path));
      if (st.isFile()) out.push({ path, mtimeMs: st.mtimeMs }); // a link is not its target
    } catch {
      // removed while we looked
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
