import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
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
