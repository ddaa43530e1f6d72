import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeJUnit } from './junit-write.js';
import type { RunResult } from './types.js';

/** Write a file atomically (temp file + rename), creating its directory. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Write the JSON result file and, when asked, the merged JUnit XML. */
export function writeReports(result: RunResult, paths: { json?: string; junit?: string }): void {
  if (paths.json) writeFileAtomic(paths.json, `${JSON.stringify(result, null, 2)}\n`);
  if (paths.junit) writeFileAtomic(paths.junit, writeJUnit(result));
}

/**
 * Write several files so that either all of them are replaced or none is: every text goes to a
 * temp file first, and the renames start only when all temp files are written. On failure the
 * temp files are removed and the error is rethrown.
 */
export function writeFilesAtomic(files: { path: string; text: string }[]): void {
  const temps: { tmp: string; path: string }[] = [];
  try {
    for (const { path, text } of files) {
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      temps.push({ tmp, path });
      writeFileSync(tmp, text);
    }
  } catch (error) {
    for (const { tmp } of temps) rmSync(tmp, { force: true });
    throw error;
  }
  for (const { tmp, path } of temps) renameSync(tmp, path);
}
