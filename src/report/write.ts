import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { junitChunks } from './junit-write.js';
import type { RunResult } from './types.js';

/** Write a file atomically (temp file + rename), creating its directory. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * `JSON.stringify(result, null, 2)` and a newline, in pieces (one test file's result at a
 * time, the `files` list last), so that a run of any size is written without the whole text
 * in memory or over V8's longest string.
 */
export function* resultJsonChunks(result: RunResult): Generator<string> {
  const { files, ...rest } = result;
  const head = JSON.stringify(rest, null, 2);
  yield `${head.slice(0, -2)},\n  "files": [`;
  let first = true;
  for (const file of files) {
    yield `${first ? '' : ','}\n    ${JSON.stringify(file, null, 2).replaceAll('\n', '\n    ')}`;
    first = false;
  }
  yield files.length > 0 ? '\n  ]\n}\n' : ']\n}\n';
}

/**
 * Write the JSON result file and, when asked, the merged JUnit XML: both or neither (see
 * {@link writeFilesAtomic}). When they cannot be written, the previous run's files at those
 * paths are removed too, so that nobody takes them for this run's.
 * @throws SeedforkError naming the files and the reason
 */
export function writeReports(result: RunResult, paths: { json?: string; junit?: string }): void {
  const files = [
    ...(paths.json ? [{ path: paths.json, text: resultJsonChunks(result) }] : []),
    ...(paths.junit ? [{ path: paths.junit, text: junitChunks(result) }] : []),
  ];
  try {
    writeFilesAtomic(files);
  } catch (error) {
    for (const { path } of files) removeQuietly(path);
    throw new SeedforkError(
      `cannot write the run's reports (${files.map((f) => f.path).join(', ')}): ${(error as Error).message}`,
      {
        hint: 'The previous reports at those paths were removed, so that they are not taken for this run. Check the disk space and the paths.',
        cause: error,
      },
    );
  }
}

/**
 * The reports of a run that broke off (cancelled, or an error) before every file ran: the JSON
 * result with what finished and `incomplete` saying why (none when nothing finished), and no
 * JUnit XML. A previous run's files at those paths are removed: a CI system would take them for
 * this run's. Never throws: the run's own error is what the caller reports.
 */
export function writeIncompleteReports(
  result: RunResult,
  paths: { json?: string; junit?: string },
  why: string,
): void {
  try {
    if (paths.junit) removeQuietly(paths.junit);
    if (!paths.json) return;
    if (result.files.length === 0) removeQuietly(paths.json);
    else writeReports({ ...result, incomplete: why }, { json: paths.json });
  } catch {
    // writeReports removed the old file; the run's error says what went wrong
  }
}

/** Remove a file if it is there; a path that cannot be one (under a file) is fine too. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // nothing there to take for a report
  }
}

/**
 * Write several files so that either all of them are replaced or none is: every text goes to a
 * temp file first, and the renames start only when all temp files are written. A text may come
 * in pieces (an iterable of strings), written as they come. On failure the temp files are
 * removed and the error is rethrown.
 */
export function writeFilesAtomic(files: { path: string; text: string | Iterable<string> }[]): void {
  const temps: { tmp: string; path: string }[] = [];
  try {
    for (const { path, text } of files) {
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      temps.push({ tmp, path });
      if (typeof text === 'string') {
        writeFileSync(tmp, text);
        continue;
      }
      const fd = openSync(tmp, 'w');
      try {
        for (const piece of text) writeSync(fd, piece);
      } finally {
        closeSync(fd);
      }
    }
  } catch (error) {
    for (const { tmp } of temps) rmSync(tmp, { force: true });
    throw error;
  }
  for (const { tmp, path } of temps) renameSync(tmp, path);
}
