import type { FileResult } from '../report/types.js';
import type { Confidence } from './confidence.js';
import type { Conflict } from './conflicts.js';
import type { Leftovers } from './leftovers.js';

/**
 * How a run was set up:
 * - `isolated`: every file alone in a fresh sandbox (repeated `--repeat` times);
 * - `order`: every file one after another in one fresh sandbox, in a given order (forward,
 *   reverse, shuffled): the same environment, a known order;
 * - `shared`: every file on the shared host (`--isolation none`) with 1 or max workers;
 * - `cold`: every file alone in a fresh sandbox with every tool cache emptied first.
 */
export type RunKind = 'isolated' | 'order' | 'shared' | 'cold';

/** One audit run and what each file did in it. */
export interface AuditRun {
  /** Short unique label: `isolated #2`, `order: reverse`, `shared: 4 workers`. */
  label: string;
  kind: RunKind;
  /** Files in the order they were started. */
  order: string[];
  workers: number;
  durationMs: number;
  results: FileResult[];
}

/**
 * Classes of a test case, following iDFlakies (Lam, Oei, Shi, Marinov, Xie, "iDFlakies: A
 * Framework for Detecting and Partially Classifying Flaky Tests", ICST 2019) for
 * order-dependent (OD) vs non-order-dependent (NOD, here `non-deterministic`), and iFixFlakies
 * (Shi et al., ESEC/FSE 2019) for victims, polluters, brittle tests and state-setters:
 * - `stable-pass` / `stable-fail`: the same outcome in every run;
 * - `non-deterministic`: passes and fails in runs of the same setup, even alone in a fresh
 *   sandbox (timing, randomness), or a shared-run failure that does not reproduce;
 * - `order-dependent`: passes alone, fails after certain tests in the same environment
 *   (a victim; its polluters are named);
 * - `brittle`: fails alone, passes only after certain tests ran first (its state-setters);
 * - `shared-state`: passes alone and in every order in one sandbox, fails only when sharing
 *   the host with other tests or earlier runs (a port, a /tmp file, a leftover process);
 * - `cache-dependent`: the same outcome everywhere, except alone with every tool cache empty
 *   (a cold cache: a transform, build or test cache the runner keeps warm);
 * - `skipped`: skipped in every run.
 */
export type Category =
  | 'non-deterministic'
  | 'order-dependent'
  | 'brittle'
  | 'shared-state'
  | 'cache-dependent'
  | 'stable-fail'
  | 'stable-pass'
  | 'skipped';

/** Severity order for reports: flaky classes first. */
export const SEVERITY: Category[] = [
  'non-deterministic',
  'order-dependent',
  'brittle',
  'shared-state',
  'cache-dependent',
  'stable-fail',
  'stable-pass',
  'skipped',
];

/** The flaky classes: any of them makes `seedfork audit` exit 1. */
export const FLAKY: Category[] = [
  'non-deterministic',
  'order-dependent',
  'brittle',
  'shared-state',
  'cache-dependent',
];

/** A test case's outcome in one run. */
export interface Observation {
  run: string;
  kind: RunKind;
  status: 'passed' | 'failed' | 'skipped' | 'missing';
  /** First line of the failure. */
  message?: string;
}

/** A test case named across runs by file + full name. */
export interface TestRef {
  file: string;
  name: string;
}

/** Result of looking for the tests that make a victim fail (polluters) or a brittle test pass (state-setters). */
export interface CulpritSearch {
  kind: 'polluter' | 'state-setter';
  /**
   * `found`: the culprits below, confirmed; `budget`: stopped by --max-runs/--timeout with
   * the culprits among `candidates`; `not-reproduced`: the failing order did not fail again;
   * `not-searched`: no sandboxed order showed the dependence, or the search was not run.
   */
  status: 'found' | 'budget' | 'not-reproduced' | 'not-searched';
  /** Culprit files, in run order. */
  files: string[];
  /** Culprit test cases, when the runner can run single tests and one was isolated. */
  tests: TestRef[];
  /** Where the culprits are, when the search stopped early. */
  candidates?: string[];
  /** Sandboxed runs the search used. */
  runs: number;
  /** The order (files before the victim) the search started from. */
  from?: string;
  note?: string;
}

/** A classified test case with the evidence. */
export interface ClassifiedTest extends TestRef {
  category: Category;
  /** One sentence: why this class. */
  reason: string;
  observations: Observation[];
  search?: CulpritSearch;
  /** How sure the class is, and the runs behind it. */
  confidence: Confidence;
}

/** The whole audit, as written to `audit.json` (and rendered to the HTML report). */
export interface AuditReport {
  version: 1;
  startedAt: string;
  durationMs: number;
  /** Seed of the shuffled order (reuse with `--seed`). */
  seed: number;
  /** What was audited: the test files (sorted) and the config's hash (see configHash). */
  suite: { files: string[]; configHash: string };
  runs: {
    label: string;
    kind: RunKind;
    workers: number;
    durationMs: number;
    order: string[];
    failed: number;
    tests: number;
  }[];
  tests: ClassifiedTest[];
  leftovers: Leftovers[];
  /**
   * Pairs of files whose footprints in the isolated runs overlap on a port, a path or a table
   * (see findConflicts), both sides named; a side that never failed is a conflict partner.
   */
  conflicts: Conflict[];
  /** False when a budget or an error stopped the audit before every step ran. */
  complete: boolean;
  /** What was and was not concluded, in sentences. */
  notes: string[];
  counts: Record<Category, number>;
  /** Sandboxes forked, and wall time of the plain run the audit is compared with, if measured. */
  forks: number;
}
