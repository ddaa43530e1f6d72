import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
export async function writtenFiles(
  sandbox: Sandbox,
  root: string,
  patterns: readonly string[],
  since: number,
): Promise<string[]> {
  const found = await sandbox.findFiles(root, patterns);
  return found.filter((f) => f.mtimeMs >= since - MTIME_SLACK_MS).map((f) => f.path);
}

/**
 * Copy `files` (relative to `root`, as {@link writtenFiles} returns them) out of `sandbox`
 * into `dest` (a host directory), keeping their relative paths.
 * @returns the host paths written.
 */
export async function copyOut(
  sandbox: Sandbox,
  root: string,
  files: string[],
  dest: string,
): Promise<string[]> {
  const written: string[] = [];
  for (const rel of files) {
    const data = await sandbox.readFile(join(root, rel));
    if (data === undefined) continue; // removed since it was listed
    const to = join(dest, rel);
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, data);
    written.push(to);
  }
  return written;
}
