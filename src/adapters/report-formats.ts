import { SeedforkError } from '../errors/seedfork-error.js';
import { readJUnit } from '../report/junit-read.js';
import type { ParsedReport } from './types.js';

/** Whether a JUnit XML document is complete: its root element is closed. */
export function junitComplete(text: string): boolean {
  return /<\/testsuites?>\s*$/.test(text);
}

/** Read a JUnit XML report (see {@link readJUnit}). @throws SeedforkError when it is malformed. */
export function parseJUnit(text: string): ParsedReport {
  return { tests: readJUnit(text) };
}

/** Whether `text` is one whole JSON document (runners write their JSON report in one go at the end). */
export function jsonComplete(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse a runner's JSON report.
 * @throws SeedforkError naming the runner when the text is not JSON.
 */
export function parseJsonReport<T>(text: string, runner: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new SeedforkError(`malformed ${runner} JSON results: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
