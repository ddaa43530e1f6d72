import type { FileResult } from '../report/types.js';
import { BudgetExhausted, minimize } from './delta-debug.js';
import type { Step } from './executor.js';
import type { CulpritSearch, TestRef } from './types.js';

/** Runs sequences for culprit searches, under the audit's budget, remembering results. */
export class SequenceRunner {
  /** Sandboxed sequences run so far (searches only). */
  runs = 0;
  private readonly memo = new Map<string, Promise<FileResult[]>>();
  /** Wall times of the sequences that ended, in ms. */
  private readonly took: number[] = [];

  /**
   * @param budget `maxRuns` sequences at most; none starts that would, at the median wall time
   *   of those before it, end past `deadline` (epoch ms), `deadlineReason` saying why it is set
   *   (default: `--timeout reached`).
   */
  constructor(
    private readonly run: (steps: Step[]) => Promise<FileResult[]>,
    private readonly budget: { maxRuns: number; deadline: number; deadlineReason?: string },
  ) {}

  /**
   * Run `steps` in one fresh sandbox, or reuse an identical earlier run unless `again`.
   * @throws BudgetExhausted when --max-runs or the deadline is reached.
   */
  sequence(steps: Step[], again = false): Promise<FileResult[]> {
    const key = JSON.stringify(steps);
    const known = this.memo.get(key);
    if (known && !again) return known;
    if (this.runs >= this.budget.maxRuns)
      throw new BudgetExhausted(`--max-runs ${this.budget.maxRuns} reached`);
    if (Date.now() + this.typicalMs() > this.budget.deadline)
      throw new BudgetExhausted(this.budget.deadlineReason ?? '--timeout reached');
    this.runs++;
    const started = Date.now();
    const pending = this.run(steps);
    pending.then(
      () => this.took.push(Date.now() - started),
      () => {},
    );
    this.memo.set(key, pending);
    return pending;
  }

  /** The median wall time of the sequences that ended (0 before any did), in ms. */
  private typicalMs(): number {
    if (this.took.length === 0) return 0;
    const sorted = [...this.took].sort((a, b) => a - b);
    return sorted[sorted.length >> 1]!;
  }

  /** Run `steps`; the status of `victim` in the last step's file. */
  async statusAfter(steps: Step[], victim: TestRef, again = false): Promise<'passed' | 'failed' | 'missing'> {
    const results = await this.sequence(steps, again);
    const last = results.at(-1);
    if (!last || last.file !== victim.file) return 'missing';
    const t = last.tests.find((x) => x.name === victim.name);
    if (!t) return last.status === 'passed' ? 'missing' : 'failed';
    return t.status === 'passed' ? 'passed' : t.status === 'skipped' ? 'missing' : 'failed';
  }
}

/**
 * Find which of the tests that ran before `victim` (the files in `prefix`, in that order)
 * make it fail (`polluter`) or pass (`state-setter`), as iFixFlakies does: confirm that
 * prefix + victim reproduces the outcome, delta-debug the prefix down to the culprit files,
 * then, when the runner can run single test cases, each culprit file down to its culprit
 * test cases.
 * @param testsOf the test case names of a file, in file order.
 */
export async function searchCulprits(
  runner: SequenceRunner,
  victim: TestRef,
  prefix: string[],
  kind: 'polluter' | 'state-setter',
  options: {
    filtersTests: boolean;
    testsOf: (file: string) => string[];
    from: string;
    /** Culprits other searches found (shared, growing): tried first, one probe each. */
    known?: TestRef[];
    /** Files the order runs point at ({@link likelyCulprits}); tried before the whole prefix. */
    likely?: string[];
    /**
     * Probe each candidate file alone before delta debugging, this many at a time (nearest to
     * the victim first), and stop at the first that reproduces: a lone polluter (the common
     * case, iFixFlakies) found in short sequences run side by side rather than in log2(n)
     * dependent ones. 0 or absent: delta debugging only.
     */
    singleProbes?: number;
    /** Narrow culprit files to their test cases where the runner can run them (default true). */
    narrowTests?: boolean;
  },
): Promise<CulpritSearch> {
  const target = kind === 'polluter' ? 'failed' : 'passed';
  let runs = 0; // probes of this search (searches share one runner, in parallel)
  const base: CulpritSearch = {
    kind,
    status: 'not-searched',
    files: [],
    tests: [],
    runs: 0,
    from: options.from,
  };
  const done = (r: Partial<CulpritSearch>): CulpritSearch => ({
    ...base,
    ...r,
    runs,
  });
  if (prefix.length === 0) return done({ note: 'no test ran before it in that order' });
  const victimStep: Step = { file: victim.file };
  const holds = async (steps: Step[], again = false) => {
    runs++;
    return (await runner.statusAfter([...steps, victimStep], victim, again)) === target;
  };
  const holdsAfterFiles = (files: string[], again = false) =>
    holds(
      files.map((file) => ({ file })),
      again,
    );
  try {
    // The files the order runs point at (before the victim whenever it flipped, never before it
    // when it did not).
    const likely = options.likely?.filter((f) => prefix.includes(f)) ?? [];
    // 1. A culprit another victim had is often this one's too (one polluter, many victims,
    //    as iFixFlakies observed). The known culprits the order runs point at (all of them when
    //    they point at none) go in one probe together, test cases where the runner can run
    //    them, else files; when the victim flips, delta debugging narrows them down. When it
    //    does not, no single one of them is a culprit on its own.
    const pointedAt = (f: string) => prefix.includes(f) && (likely.length === 0 || likely.includes(f));
    const known = (options.known ?? []).filter(
      (k, i, all) => pointedAt(k.file) && all.findIndex((x) => x.file === k.file && x.name === k.name) === i,
    );
    const knownTests = options.filtersTests ? known.filter((k) => k.name) : [];
    if (knownTests.length > 0) {
      const stepsOf = (subset: TestRef[]) =>
        prefix
          .filter((f) => subset.some((k) => k.file === f))
          .map((f) => ({ file: f, tests: subset.filter((k) => k.file === f).map((k) => k.name) }));
      if (await holds(stepsOf(knownTests))) {
        const narrowed =
          knownTests.length === 1
            ? ({ status: 'found', items: knownTests } as const)
            : await minimize(knownTests, (subset) => holds(stepsOf(subset)));
        if (narrowed.status === 'found')
          return done({
            status: 'found',
            files: prefix.filter((f) => narrowed.items.some((k) => k.file === f)),
            tests: narrowed.items,
            note: 'among the culprits of other victims',
          });
      }
    }
    let culpritFiles: string[] | undefined;
    let start: string[] | undefined;
    const knownFiles = prefix.filter((f) => known.some((k) => k.file === f));
    if (knownFiles.length > 0 && (await holdsAfterFiles(knownFiles))) {
      if (knownFiles.length === 1) culpritFiles = knownFiles;
      else start = knownFiles;
    }
    // 1b. Each candidate alone, side by side (quick audits): the first lone culprit ends it.
    if (!culpritFiles && !start && (options.singleProbes ?? 0) > 0) {
      const candidates = (likely.length > 0 ? likely : prefix).filter((f) => !knownFiles.includes(f));
      const lone = await firstThat([...candidates].reverse(), options.singleProbes!, (f) =>
        holdsAfterFiles([f]),
      );
      if (lone !== undefined) culpritFiles = [lone];
    }
    // 2. When the pointed-at files alone reproduce, delta-debug them; else (3) reproduce the
    //    whole order again in a fresh sandbox (twice: one miss is not enough) and delta-debug it.
    if (
      !culpritFiles &&
      !start &&
      likely.length > 0 &&
      likely.length < prefix.length &&
      (await holdsAfterFiles(likely))
    )
      start = likely;
    if (!culpritFiles && !start) {
      if (!(await holdsAfterFiles(prefix)) && !(await holdsAfterFiles(prefix, true)))
        return done({
          status: 'not-reproduced',
          note: `the order ${options.from} did not ${kind === 'polluter' ? 'fail' : 'pass'} again`,
        });
      start = prefix;
    }
    if (!culpritFiles) {
      const files = await minimize(start!, (subset) => holdsAfterFiles(subset));
      if (files.status === 'budget')
        return done({ status: 'budget', candidates: files.items, note: files.reason });
      culpritFiles = files.items;
    }
    // 4. The culprit test cases inside each culprit file, others running whole.
    const tests: TestRef[] = [];
    const notes: string[] = [];
    if (options.filtersTests && options.narrowTests !== false) {
      for (const file of culpritFiles) {
        const names = options.testsOf(file);
        if (names.length < 2) {
          tests.push(...names.map((name) => ({ file, name })));
          continue;
        }
        const stepsWith = (subset: string[]) =>
          culpritFiles.map((f) => (f === file ? { file, tests: subset } : { file: f }));
        // the test cases other searches found here first: one probe when one of them is it
        const knownHere = (options.known ?? []).filter((k) => k.file === file && k.name).map((k) => k.name);
        if (knownHere.length > 0 && knownHere.length < names.length && (await holds(stepsWith(knownHere)))) {
          const narrowed = await minimize(knownHere, (subset) => holds(stepsWith(subset)));
          if (narrowed.status === 'found') {
            tests.push(...narrowed.items.map((name) => ({ file, name })));
            continue;
          }
        }
        // Narrowed straight away; only when no proper subset reproduces is the whole file run by
        // name, to tell "all of them together" from "running tests by name changes the outcome".
        const cases = await minimize(names, (subset) => holds(stepsWith(subset)));
        if (cases.status === 'budget')
          return done({
            status: 'budget',
            files: culpritFiles,
            candidates: culpritFiles,
            note: `${cases.reason} before the culprit test case was narrowed (in ${file}, among ${cases.items.join(', ')})`,
          });
        if (cases.items.length === names.length && !(await holds(stepsWith(names)))) {
          notes.push(`${file}: running its tests by name did not reproduce, so no single test case is named`);
          continue;
        }
        tests.push(...cases.items.map((name) => ({ file, name })));
      }
    }
    return done({
      status: 'found',
      files: culpritFiles,
      tests,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  } catch (error) {
    if (error instanceof BudgetExhausted)
      return done({
        status: 'budget',
        candidates: prefix,
        note: `${error.message} before the culprit was narrowed`,
      });
    throw error;
  }
}

/**
 * The files that, by the order runs alone, can be a single culprit: before the victim in every
 * order where it showed the outcome searched for (failed, for polluters), and never before it
 * in an order where it did not. A set of culprits acting only together can escape this, so the
 * search falls back to the whole prefix when these files do not reproduce.
 * @returns files in the order of `prefix`.
 */
export function likelyCulprits(
  victimFile: string,
  prefix: string[],
  orders: { order: string[]; flipped: boolean }[],
): string[] {
  const before = (order: string[]) => new Set(order.slice(0, Math.max(0, order.indexOf(victimFile))));
  const flipped = orders.filter((o) => o.flipped).map((o) => before(o.order));
  const steady = orders.filter((o) => !o.flipped).map((o) => before(o.order));
  return prefix.filter((f) => flipped.every((b) => b.has(f)) && !steady.some((b) => b.has(f)));
}

/**
 * The first of `items` (by when its probe answered) for which `probe` holds, with at most
 * `concurrency` probes in flight; no new probe starts once one held. Probes in flight then run
 * to their end, their answers dropped. A probe's error (BudgetExhausted) is thrown once those
 * in flight have settled.
 * @returns undefined when none holds.
 */
export async function firstThat<T>(
  items: T[],
  concurrency: number,
  probe: (item: T) => Promise<boolean>,
): Promise<T | undefined> {
  let next = 0;
  let found: { item: T } | undefined;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!found && !failure && next < items.length) {
      const item = items[next++]!;
      try {
        if ((await probe(item)) && !found) found = { item };
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (found) return found.item;
  if (failure) throw failure.error;
  return undefined;
}
