import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Timings } from './timings.js';

/** Predicted cost of running one test file in its own sandbox. */
export interface FileCost {
  /** Path relative to the project root. */
  file: string;
  /** Predicted test time plus sandbox overhead, in ms; always > 0. */
  ms: number;
  /** Predicted test command time alone, in ms. */
  testMs: number;
  /** Predicted fork + service start time, in ms. */
  setupMs: number;
  /** Where `testMs` came from. */
  source: 'recorded' | 'junit' | 'estimate';
  /** File size in bytes: the tie-break between files of equal cost. */
  sizeBytes: number;
}

/**
 * Test time assumed for every file when nothing at all is known (no timings, no reports), in
 * ms. Any positive constant gives the same plan: files then differ only by size.
 */
export const UNKNOWN_TEST_MS = 1000;

/**
 * Fork + service start assumed per file before any sandboxed run was recorded, in ms: the
 * order of bench/fork.ts's "fork + PostgreSQL ready" (54–64 ms on the development machine)
 * plus a runner's start.
 */
export const UNKNOWN_SETUP_MS = 100;

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Predict each file's cost from recorded timings, then timings read from JUnit reports, then
 * an estimate: the median test time of the known files (never zero), with file size breaking
 * ties between estimated files. The per-file sandbox overhead is the file's recorded setup time,
 * else the median recorded one, else {@link UNKNOWN_SETUP_MS}.
 */
export function estimateCosts(
  root: string,
  files: string[],
  timings: Timings,
  junit: Map<string, number> = new Map(),
): FileCost[] {
  const known = new Map<string, { ms: number; source: 'recorded' | 'junit' }>();
  for (const file of files) {
    const recorded = timings.files[file];
    if (recorded) known.set(file, { ms: recorded.durationMs, source: 'recorded' });
    else if (junit.has(file)) known.set(file, { ms: junit.get(file)!, source: 'junit' });
  }
  const setups = Object.values(timings.files)
    .map((t) => t.setupMs)
    .filter((s): s is number => s !== undefined);
  const typicalSetup = median(setups) ?? UNKNOWN_SETUP_MS;
  const typicalTest = Math.max(1, median([...known.values()].map((k) => k.ms)) ?? UNKNOWN_TEST_MS);
  return files.map((file) => {
    const hit = known.get(file);
    const testMs = hit ? hit.ms : typicalTest;
    const setupMs = timings.files[file]?.setupMs ?? typicalSetup;
    return {
      file,
      ms: Math.max(1, testMs + setupMs),
      testMs,
      setupMs,
      source: hit?.source ?? 'estimate',
      sizeBytes: sizeOf(join(root, file)),
    };
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
