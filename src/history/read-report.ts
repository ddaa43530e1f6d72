import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { readJUnitReport } from '../report/junit-read.js';
import type { RunResult, TestCaseResult } from '../report/types.js';

/** A report larger than this is refused before it is parsed, in bytes (64 MiB). */
export const MAX_REPORT_BYTES = 64 * 1024 * 1024;

/** One test's outcome in an ingested report. */
export interface IngestCase {
  /** The test file, or the suite/classname that stands for it; '' when the report names none. */
  file: string;
  /** Full name: enclosing suites and the test name joined with " > ". */
  name: string;
  status: TestCaseResult['status'];
  durationMs: number;
  /** First line of the failure message, when failed. */
  message?: string;
  /** Attempts inside the run that failed before its final status (reruns, retries). */
  retryFailures: number;
}

/** What one report file holds. */
export interface Report {
  cases: IngestCase[];
  /** When the run started, from the report (epoch ms), if it says. */
  timestamp?: number;
  /** The report's bytes, for the idempotency hash. */
  content: Buffer;
}

/**
 * Read a report: JUnit XML from any runner (jest-junit, Vitest, node:test, pytest,
 * Surefire/Gradle, go-junit-report, Playwright, mocha-junit-reporter) or seedfork's own JSON
 * results (`.seedfork/results.json`). Surefire's `flakyFailure`/`rerunFailure` and seedfork's
 * retries count as failed attempts inside the run. Reads regular files only, at most
 * MAX_REPORT_BYTES, as UTF-8.
 * @throws SeedforkError on a file that is missing, too large, not UTF-8, or neither format
 */
export function readReport(path: string): Report {
  return parseReport(path, readBounded(path));
}

/**
 * A report's bytes, as `readReport` reads them (for reports that come over the network);
 * `name` is only for messages.
 * @throws SeedforkError on content over MAX_REPORT_BYTES, not UTF-8, or neither format
 */
export function parseReport(name: string, content: Buffer): Report {
  const path = name;
  if (content.length > MAX_REPORT_BYTES) {
    throw new SeedforkError(
      `${name} is over ${MAX_REPORT_BYTES / 1024 / 1024} MiB: reports that large are refused`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    throw new SeedforkError(`${path} is not UTF-8 text: a JUnit XML or seedfork JSON report is`);
  }
  const start = text.trimStart();
  if (start.startsWith('{')) return { ...fromSeedforkJson(path, start), content };
  if (!start.startsWith('<')) {
    throw new SeedforkError(`${path} is neither JUnit XML nor seedfork's JSON results`);
  }
  try {
    const { cases, timestamp } = readJUnitReport(text);
    return {
      cases: cases.map((c) => fromCase(c, c.classname)),
      content,
      ...(timestamp === undefined ? {} : { timestamp }),
    };
  } catch (error) {
    throw new SeedforkError(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

function fromCase(c: TestCaseResult, file: string): IngestCase {
  return {
    file,
    name: c.name,
    status: c.status,
    durationMs: Number.isFinite(c.durationMs) ? c.durationMs : 0,
    ...(c.message ? { message: c.message.slice(0, 1000) } : {}),
    retryFailures:
      (c.flakyFailures?.length ?? 0) +
      (c.rerunFailures?.length ?? 0) +
      (c.status === 'flaky' && !c.flakyFailures ? 1 : 0),
  };
}

function fromSeedforkJson(path: string, text: string): Omit<Report, 'content'> {
  let doc: RunResult;
  try {
    doc = JSON.parse(text) as RunResult;
  } catch (error) {
    throw new SeedforkError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (doc?.version !== 1 || !Array.isArray(doc.files)) {
    throw new SeedforkError(`${path} is JSON but not seedfork's results (version 1 with files[])`);
  }
  return fromRunResult(doc);
}

/**
 * What a seedfork run's result holds, as a report to ingest (`seedfork run` and `merge` record
 * their results this way when the history is configured).
 */
export function reportFromRunResult(result: RunResult): Report {
  return { ...fromRunResult(result), content: Buffer.from(JSON.stringify(result)) };
}

function fromRunResult(doc: RunResult): Omit<Report, 'content'> {
  const cases = doc.files.flatMap((f) =>
    (Array.isArray(f.tests) ? f.tests : []).map((t) => fromCase(t, f.file)),
  );
  const started = Date.parse(doc.startedAt);
  return { cases, ...(Number.isFinite(started) ? { timestamp: started } : {}) };
}

/**
 * How many `<testcase` elements a report's bytes hold, counting up to `stop` (a seedfork JSON
 * result has none): cheap enough to run before parsing, whose memory grows with the cases.
 */
export function countJUnitCases(content: Buffer, stop: number): number {
  let count = 0;
  for (
    let at = content.indexOf('<testcase');
    at !== -1 && count < stop;
    at = content.indexOf('<testcase', at + 9)
  )
    count++;
  return count;
}

/** A regular file's bytes, refused beyond MAX_REPORT_BYTES without reading it all. */
function readBounded(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new SeedforkError(
      `cannot read report ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new SeedforkError(`${path} is not a regular file`);
    if (stat.size > MAX_REPORT_BYTES) {
      throw new SeedforkError(
        `${basename(path)} is ${Math.round(stat.size / 1024 / 1024)} MiB: reports over ${MAX_REPORT_BYTES / 1024 / 1024} MiB are refused (split it, or leave out stdout in the report)`,
      );
    }
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = readSync(fd, buffer, read, stat.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
