import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Sandbox } from '../sandbox/types.js';

/** Snapshot files the runners write when asked to update them (Jest/Vitest `__snapshots__/*.snap`,
 * Playwright `*-snapshots/`), copied back into the project by `--update-snapshots`. */
export const SNAPSHOT_GLOBS = ['**/__snapshots__/**', '**/*.snap', '**/*-snapshots/**'];

/** Filesystem timestamps can lag the clock slightly; files this much older still count as new (ms). */
const MTIME_SLACK_MS = 1000;

/** What a run wrote that matched: the files to copy, and those that cannot be (with why). */
export interface WrittenFiles {
  /** Relative to the root, sorted. */
  files: string[];
  skipped: { path: string; why: string }[];
}

/**
 * Files under the project in `sandbox` that match `patterns` (relative to `root`, never under
 * node_modules) and were written at or after `since` (epoch ms): what this run produced, and
 * the matches that cannot be copied (a newline in the name, a path over PATH_MAX).
 */
export async function writtenFiles(
  sandbox: Sandbox,
  root: string,
  patterns: readonly string[],
  since: number,
): Promise<WrittenFiles> {
  const found = (await sandbox.findFiles(root, patterns)).filter((f) => f.mtimeMs >= since - MTIME_SLACK_MS);
  return {
    files: found.filter((f) => !f.unreadable).map((f) => f.path),
    skipped: found.flatMap((f) => (f.unreadable ? [{ path: f.path, why: f.unreadable }] : [])),
  };
}

/** The warning a file's result carries for each match that was not copied out. */
export function skippedWarning(kind: string, skipped: { path: string; why: string }): string {
  const { path } = skipped;
  const shown =
    path.length > 160 ? `${path.slice(0, 80)}…${path.slice(-60)} (${path.length} characters)` : path;
  return `${kind} not copied: ${JSON.stringify(shown)}: ${skipped.why}`;
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
