import { resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import { adapterFor } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { estimateCosts, type FileCost } from './cost.js';
import { discoverTestFiles } from './discover.js';
import { timingsFromJUnit } from './junit-timings.js';
import { assertSameSuite, readTimings, type Timings } from './timings.js';

/** Where to read timings from; each overrides the config's `timings` key. */
export interface TimingsOptions {
  /** Timings file (relative to the project root). */
  timings?: string;
  /** JUnit XML reports to read durations from (paths or globs, relative to the project root). */
  timingsFrom?: string[];
}

/** A suite's test files with what is known about their cost. */
export interface Suite {
  files: string[];
  costs: FileCost[];
  timings: Timings;
  /** Absolute path of the timings file. */
  timingsPath: string;
}

/**
 * Discover the suite's test files and predict their costs from the timings file and the
 * configured JUnit reports.
 * @throws SeedforkError when no file matches, the timings file is corrupt or from another
 *   suite, or a JUnit report cannot be read.
 */
export function loadSuite(loaded: LoadedConfig, options: TimingsOptions & { filter?: string[] } = {}): Suite {
  const { config, root } = loaded;
  const files = discoverTestFiles(
    root,
    config.test.include,
    config.test.exclude,
    options.filter,
    adapterFor(config.test.runner).units,
  );
  const timingsPath = resolve(root, options.timings ?? config.timings.path);
  const timings = readTimings(timingsPath);
  assertSameSuite(timings, files, timingsPath);
  const patterns = options.timingsFrom ?? config.timings.junit;
  const reports: string[] = [];
  for (const pattern of patterns) {
    const hits = globSync(pattern, { cwd: root, absolute: true }).sort();
    if (hits.length === 0 && options.timingsFrom)
      throw new SeedforkError(`--timings-from ${pattern}: no such JUnit report`, {
        hint: 'Pass the paths (or globs) of JUnit XML reports from an earlier run, relative to the project.',
      });
    reports.push(...hits);
  }
  const junit = reports.length > 0 ? timingsFromJUnit(root, files, reports) : new Map<string, number>();
  return { files, costs: estimateCosts(root, files, timings, junit), timings, timingsPath };
}
