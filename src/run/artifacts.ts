import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { globSync } from 'tinyglobby';
import type { Sandbox } from '../sandbox/types.js';

/** Snapshot files the runners write when asked to update them (Jest/Vitest `__snapshots__/*.snap`,
 * Playwright `*-snapshots/`), copied back into the project by `--update-snapshots`. */
export const SNAPSHOT_GLOBS = ['**/__snapshots__/**', '**/*.snap', '**/*-snapshots/**'];

/** Filesystem timestamps can lag the clock slightly; files this much older still count as new (ms). */
const MTIME_SLACK_MS = 1000;

/**
 * Files under the project in `sandbox` that match `patterns` (relative to `root`, never under
 * node_modules) and were written at or after `since` (epoch ms): what this run produced.
 * @returns paths relative to `root`, sorted.
 */
export function writtenFiles(
  sandbox: Sandbox,
  root: string,
  patterns: readonly string[],
  since: number,
): string[] {
  if (patterns.length === 0) return [];
  const base = sandbox.hostPath(root);
  return globSync([...patterns], { cwd: base, onlyFiles: true, dot: true, ignore: ['**/node_modules/**'] })
    .filter((rel) => {
      try {
        return statSync(join(base, rel)).mtimeMs >= since - MTIME_SLACK_MS;
      } catch {
        return false;
      }
    })
    .sort();
}

/**
 * Copy `files` (relative to `root`, as {@link writtenFiles} returns them) out of `sandbox`
 * into `dest` (a host directory), keeping their relative paths.
 * @returns the host paths written.
 */
export function copyOut(sandbox: Sandbox, root: string, files: string[], dest: string): string[] {
  const base = sandbox.hostPath(root);
  const written: string[] = [];
  for (const rel of files) {
    const to = join(dest, rel);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(base, rel), to);
    written.push(to);
  }
  return written;
}
