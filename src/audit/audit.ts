import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { adapterFor } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import { discoverTestFiles } from '../plan/discover.js';
import { byPath } from '../plan/partition.js';
import { emptyTimings, readTimings } from '../plan/timings.js';
import { cacheDirsOf } from '../run/caches.js';
import { baseEnvironment } from '../run/environment.js';
import { type RunOptions, resolveWorkers } from '../run/run.js';
import { withheldNotice } from '../sandbox/host-env.js';
import type { SeedEvent } from '../seed/seed.js';
import { configHash } from './check.js';
import { classify, observe } from './classify.js';
import { DETECTION, detectionProbability, RERUN_CONFIDENCE, rerunsNeeded } from './confidence.js';
import { runCulpritSearches } from './culprit-searches.js';
import { AuditExecutor } from './executor.js';
import { ALL_RUNS, type AuditRunSelection, type PlannedRun, planAuditRuns } from './plan.js';
import { plainRunEstimateMs, QUICK_BUDGET_PLAIN_RUNS, quickSearchDeadline } from './quick-budget.js';
import { AuditState } from './state.js';
import type { AuditReport, AuditRun, CulpritSearch } from './types.js';

export { ALL_RUNS, type AuditRunSelection } from './plan.js';

/** Options of {@link audit}. */
export interface AuditOptions {
  /** Isolated runs of the whole suite (each file alone in a fresh sandbox); default 3. */
  repeat?: number;
  runs?: AuditRunSelection[];
  /** Seed of the shuffled order; default: random (printed, reusable). */
  seed?: number;
  /** Workers of isolated runs and of the "max" shared run; default: the config's. */
  workers?: number;
  /** Sandboxed runs the polluter/state-setter searches may use in all; default 200. */
  maxRuns?: number;
  /**
   * File runs the adaptive isolated reruns may use in all; default 60. A test whose class rests
   * on isolated runs that all agreed (order-dependent, brittle, shared-state, cache-dependent) is rerun alone
   * until a non-deterministic test would have shown itself with 99% probability (see
   * confidence.ts) or it does.
   */
  maxReruns?: number;
  /** Wall-time budget of the whole audit in ms; default 30 min. Runs and searches stop at it. */
  timeoutMs?: number;
  /**
   * A quick audit: one isolated run, one reverse order, one shared run with max workers, no
   * adaptive reruns. Culprit searches still run for the failures seen, one at a time, each
   * probing its candidate files alone first, named to the file, and stopped when the audit has
   * cost {@link QUICK_BUDGET_PLAIN_RUNS} plain runs (see quick-budget.ts). Overrides `runs`,
   * `repeat` and `maxReruns`; the report says what confidence it gives (QUICK_NOTE).
   */
  quick?: boolean;
  /** Only files whose path contains one of these. */
  filter?: string[];
  /** Report paths (relative to the project root); defaults `.seedfork/audit.json` and `.html`. */
  json?: string;
  html?: string;
  /** Extra globs of sandbox paths the leftovers report ignores. */
  ignore?: string[];
  /** The runner's own workers for the sandboxed runs, as `seedfork run` takes them
   * ({@link RunOptions.fileWorkers}); the shared-host runs use the runner's CLI. */
  fileWorkers?: RunOptions['fileWorkers'];
  signal?: AbortSignal;
  onEvent?: (event: AuditEvent) => void;
}

/**
 * What a quick audit says of its confidence, in the report and on the console: a test failing
 * 30% of its runs alone shows in its one isolated run with 30% probability, against 99% for the
 * full audit's runs and reruns (confidence.ts: 1 - (1 - p)^n).
 */
export const QUICK_NOTE = `quick audit: one isolated run, one reverse order and one shared run, without reruns. A test failing 30% of its runs alone shows itself here with only ${Math.round(detectionProbability(DETECTION.rate, 1) * 100)}% probability (the full audit: ${Math.round(RERUN_CONFIDENCE * 100)}%), and an order-dependent test is found only when the reverse order breaks it. Its culprit searches name files, not test cases, and stop once the audit has cost about ${QUICK_BUDGET_PLAIN_RUNS} plain runs (a stopped one lists the candidates left). Tests called stable here are not known to be; run \`seedfork audit\` without --quick before trusting that.`;

/** Progress of an audit, for reporters. */
export type AuditEvent =
  | { type: 'plan'; files: number; runs: string[]; seed: number }
  | { type: 'seed'; event: SeedEvent }
  /** Something the user should know about how the files run (see RunEvent's). */
  | { type: 'notice'; message: string }
  | { type: 'run-start'; label: string }
  | { type: 'run-done'; run: AuditRun }
  | { type: 'search-start'; victim: string; kind: 'polluter' | 'state-setter' }
  | { type: 'search-done'; victim: string; search: CulpritSearch }
  | { type: 'done'; report: AuditReport; paths: { json: string; html: string } };

/**
 * Audit a suite for flakiness: run it isolated (`repeat` times), in forward, reverse and
 * shuffled order in one sandbox, and on the shared host with 1 and with max workers; classify
 * every test case (see {@link classify}); search the polluters of order-dependent victims and
 * the state-setters of brittle tests by delta debugging ({@link searchCulprits}); report what
 * each file left in its sandbox. Shared-host runs go last: what they leave on the host would
 * otherwise show through in later sandboxes.
 * The JSON report is rewritten after every run, so an interrupted audit keeps what it found.
 * @throws SeedforkError when the suite cannot start (no files, seed failure) or no test case
 *   ran at all; CancelledError on abort (after writing the partial report).
 */
export async function audit(loaded: LoadedConfig, options: AuditOptions = {}): Promise<AuditReport> {
  const { config, root } = loaded;
  const started = Date.now();
  const emit = options.onEvent ?? (() => {});
  const quick = options.quick === true;
  const selected = new Set<AuditRunSelection>(
    quick ? ['repeat', 'reverse', 'shared'] : (options.runs ?? ALL_RUNS),
  );
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const workers = options.workers ?? resolveWorkers(config.workers);
  const deadline = started + (options.timeoutMs ?? 30 * 60_000);
  const adapter = adapterFor(config.test.runner);
  const files = discoverTestFiles(
    root,
    config.test.include,
    config.test.exclude,
    options.filter,
    adapter.units,
  ).sort(byPath);
  adapter.check(root);
  const paths = {
    json: resolve(root, options.json ?? '.seedfork/audit.json'),
    html: resolve(root, options.html ?? '.seedfork/audit.html'),
  };
  // the tool caches seedfork keeps warm: emptied in the cold run, left out of the leftovers
  const caches = cacheDirsOf(loaded, adapter);
  const { env: baseEnv, withheld } = baseEnvironment(config);
  const executor = new AuditExecutor(loaded, adapter, {
    baseEnv,
    signal: options.signal,
    onSeedEvent: (event) => emit({ type: 'seed', event }),
    // tool caches are the runner's, not what a test left
    ignore: [...config.audit.ignore, ...(options.ignore ?? []), ...caches.map((d) => `${d}/**`)],
    workers,
  });
  const plan = planAuditRuns(files, selected, {
    repeat: quick ? 1 : (options.repeat ?? 3),
    seed,
    workers,
    // quick: the isolated run is the reverse order's baseline
    forward: !quick,
  });
  emit({
    type: 'plan',
    files: files.length,
    runs: [...plan.sandboxed, ...plan.shared].map((p) => p.label),
    seed,
  });
  const withheldLine = withheldNotice(withheld);
  if (withheldLine) emit({ type: 'notice', message: withheldLine });
  const state = new AuditState(
    started,
    seed,
    { files, configHash: configHash(config) },
    paths,
    () => executor.forks,
  );
  const checkAbort = () => {
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
  };
  const runOptions = { deadline, emit, checkAbort, caches };

  try {
    if (plan.sandboxed.length > 0) await executor.prepare();
    // the runner's workers are forked into sandboxes by the namespace backend's process zygote
    if (options.fileWorkers && executor.isolation === 'namespace') {
      await executor.useWorkers((stateDir) =>
        options.fileWorkers!({
          loaded,
          adapter,
          stateDir,
          baseEnv,
          workers,
          updateSnapshots: false,
          notify: (message) => emit({ type: 'notice', message }),
        }),
      );
    }
    const runsFrom = Date.now(); // seeding is not the audit's cost
    await runSandboxed(plan.sandboxed, executor, state, runOptions);
    assertSomeTestRan(state, adapter.results({ root, reportDir: '/' }).kind !== 'none');
    const reruns = { left: quick ? 0 : (options.maxReruns ?? 60), done: 0 };
    if (quick) state.notes.push(QUICK_NOTE);
    const rerun = () =>
      // a quick audit does none: QUICK_NOTE says what confidence that leaves
      selected.has('repeat') && !quick
        ? rerunThinEvidence(state, executor, { workers, deadline, budget: reruns, emit, checkAbort })
        : Promise.resolve();
    const searchBudget = quick
      ? quickSearchBudget(loaded, files, workers, state, runsFrom, deadline)
      : undefined;
    let sequences = 0;
    // the reruns and the searches share the workers' slots: neither waits for the other
    await settleAll([
      rerun(),
      runCulpritSearches(state, (steps) => executor.sequence(`culprit search #${++sequences}`, steps), {
        maxRuns: options.maxRuns ?? 200,
        deadline: searchBudget?.deadline ?? deadline,
        ...(searchBudget ? { deadlineReason: searchBudget.reason } : {}),
        workers,
        filtersTests: adapter.filtersTests,
        oneAtATime: quick,
        emit,
        checkAbort,
        signal: options.signal,
      }),
    ]);
    checkAbort();
    await runShared(plan.shared, executor, state, runOptions);
    // the shared runs ran in a copy of the project: sandboxes still see it as it was
    await rerun();
    if (!selected.has('repeat'))
      state.notes.push(
        'no isolated runs (--runs without repeat): non-deterministic tests cannot be told apart, and no leftovers were collected',
      );
    if (plan.shared.length > 0)
      state.notes.push(
        `the shared-host runs ran the suite without isolation, in a copy of the project (${executor.sharedProject}): what it wrote outside the project (/tmp, home directories) and processes it left running stay on this machine`,
      );
    const final = state.save(true);
    emit({ type: 'done', report: final, paths });
    return final;
  } catch (error) {
    state.complete = false;
    if (state.runs.length > 0) {
      state.notes.push(
        options.signal?.aborted
          ? 'cancelled: the runs and searches above finished; the rest did not run'
          : `stopped by an error: ${(error as Error).message}`,
      );
      state.save(true);
    }
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
    throw error;
  } finally {
    await executor.close();
  }
}

/**
 * The deadline of a quick audit's culprit searches (see {@link quickSearchDeadline}) and the
 * reason a search it stops gives; none (the --timeout alone) when no plain run can be estimated.
 */
function quickSearchBudget(
  loaded: LoadedConfig,
  files: string[],
  workers: number,
  state: AuditState,
  runsFrom: number,
  deadline: number,
): { deadline: number; reason: string } | undefined {
  let timings = emptyTimings();
  try {
    timings = readTimings(resolve(loaded.root, loaded.config.timings.path));
  } catch {
    // a corrupt timings file: the isolated run's durations stand in
  }
  const isolated = state.runs.find((r) => r.kind === 'isolated')?.results;
  const plainMs = plainRunEstimateMs(files, workers, timings, isolated);
  if (plainMs === undefined) return undefined;
  const at = quickSearchDeadline(runsFrom, plainMs);
  if (at >= deadline) return undefined;
  return {
    deadline: at,
    reason: `the quick audit's budget, ${QUICK_BUDGET_PLAIN_RUNS} plain runs of about ${(plainMs / 1000).toFixed(1)} s with one kept for the shared run, was spent`,
  };
}

interface PlannedRunOptions {
  deadline: number;
  emit: (event: AuditEvent) => void;
  checkAbort: () => void;
  /** The tool caches the cold run empties. */
  caches: string[];
}

/**
 * Do the sandboxed `runs` (isolated, cold-cache, orders) all at once on the workers' slots,
 * the order sequences (the longest: every file in one sandbox) queued first; each is saved into
 * `state` as it ends, and `state.runs` is left in plan order. The first isolated run also
 * collects every file's leftovers. Past the deadline, none starts (with a note).
 */
async function runSandboxed(
  runs: PlannedRun[],
  executor: AuditExecutor,
  state: AuditState,
  options: PlannedRunOptions,
): Promise<void> {
  const todo = runs.filter((p) => {
    if (p.kind !== 'cold' || options.caches.some(hasEntries)) return true;
    state.notes.push(
      options.caches.length === 0
        ? 'no cold-cache run: the runner keeps no tool cache seedfork knows and config `cache` names none'
        : `no cold-cache run: the tool caches are empty on this machine, so a cold run is a warm one (${options.caches.join(', ')})`,
    );
    return false;
  });
  if (todo.length === 0) return;
  if (Date.now() > options.deadline) {
    state.complete = false;
    state.notes.push(`--timeout reached: runs ${todo.map((p) => `"${p.label}"`).join(', ')} not done`);
    return;
  }
  const footprints = todo.find((p) => p.kind === 'isolated');
  await executor.expectSandboxes(todo.reduce((n, p) => n + (p.kind === 'order' ? 1 : p.order.length), 0));
  const queued = [...todo.filter((p) => p.kind === 'order'), ...todo.filter((p) => p.kind !== 'order')];
  await settleAll(
    queued.map((p) =>
      recordRun(state, p, options, async () => {
        if (p.kind === 'order')
          return executor.sequence(
            p.label,
            p.order.map((file) => ({ file })),
          );
        const out = await executor.isolated(
          p.label,
          p.order,
          p === footprints,
          p.kind === 'cold' ? options.caches : [],
        );
        if (p === footprints) state.leftovers = out.leftovers;
        return out.results;
      }),
    ),
  );
  const rank = (label: string) => todo.findIndex((p) => p.label === label);
  const mine = state.runs.filter((r) => rank(r.label) >= 0).sort((a, b) => rank(a.label) - rank(b.label));
  let i = 0;
  for (const [at, r] of state.runs.entries()) if (rank(r.label) >= 0) state.runs[at] = mine[i++]!;
  state.save();
}

/**
 * Do the shared-host `runs` one after another (each uses the host with its own workers), each
 * saved into `state` as it ends. Stops (with a note) at the deadline.
 */
async function runShared(
  runs: PlannedRun[],
  executor: AuditExecutor,
  state: AuditState,
  options: PlannedRunOptions,
): Promise<void> {
  for (const [i, p] of runs.entries()) {
    if (Date.now() > options.deadline) {
      state.complete = false;
      const more = runs.length - i - 1;
      state.notes.push(`--timeout reached: run "${p.label}"${more > 0 ? ` and ${more} more` : ''} not done`);
      return;
    }
    await recordRun(state, p, options, () => executor.shared(p.label, p.order, p.workers));
  }
}

/** Wait for every promise to settle, then throw the first rejection, if any. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** Do one run (`work`), timed, then save it into `state` and tell the reporters. */
async function recordRun(
  state: AuditState,
  planned: PlannedRun,
  options: { emit: (event: AuditEvent) => void; checkAbort: () => void },
  work: () => Promise<AuditRun['results']>,
): Promise<void> {
  options.emit({ type: 'run-start', label: planned.label });
  const t = Date.now();
  const results = await work();
  options.checkAbort();
  const run: AuditRun = { ...planned, durationMs: Date.now() - t, results };
  state.runs.push(run);
  state.save();
  options.emit({ type: 'run-done', run });
}

/**
 * Rerun alone the files of tests whose class rests on isolated runs that all agreed (see
 * rerunsNeeded), as many times as the one needing most asks for, all at once: round k holds
 * every file that needs k or more, and the rounds share the workers' slots. Then again, until
 * none needs more, the budget of file runs is spent or the deadline passes (each said in a
 * note). Each round is an isolated run of its files.
 */
async function rerunThinEvidence(
  state: AuditState,
  executor: AuditExecutor,
  options: {
    workers: number;
    deadline: number;
    budget: { left: number; done: number };
    emit: (event: AuditEvent) => void;
    checkAbort: () => void;
  },
): Promise<void> {
  for (;;) {
    const needed = new Map<string, number>();
    for (const { ref, observations } of observe(state.runs).values()) {
      const n = rerunsNeeded(classify(observations).category, observations);
      if (n > 0) needed.set(ref.file, Math.max(n, needed.get(ref.file) ?? 0));
    }
    if (needed.size === 0) return;
    const short = [...needed.keys()].sort(byPath);
    const rounds: string[][] = [];
    for (let k = 1; k <= Math.max(...needed.values()); k++) {
      const order = short.filter((f) => needed.get(f)! >= k);
      if (options.budget.left < order.length) break;
      options.budget.left -= order.length;
      rounds.push(order);
    }
    if (Date.now() > options.deadline || rounds.length === 0) {
      state.notes.push(
        `isolated reruns stopped (${Date.now() > options.deadline ? '--timeout reached' : '--max-reruns spent'}) with ${short.length} file${short.length === 1 ? '' : 's'} short of the runs a 99% confidence needs: ${short.join(', ')}`,
      );
      return;
    }
    await executor.expectSandboxes(rounds.reduce((n, r) => n + r.length, 0));
    await settleAll(
      rounds.map((order) => {
        const label = `isolated rerun #${++options.budget.done}`;
        return recordRun(
          state,
          { label, kind: 'isolated', order, workers: options.workers },
          options,
          async () => (await executor.isolated(label, order)).results,
        );
      }),
    );
  }
}

/** @throws SeedforkError when the runner reports test cases but no run reported any. */
function assertSomeTestRan(state: AuditState, reportsTests: boolean): void {
  const reported = state.runs.some((r) => r.results.some((f) => f.tests.length > 0));
  if (state.runs.length > 0 && reportsTests && !reported)
    throw new SeedforkError('no test case ran in any audit run', {
      details: state.runs[0]!.results.find((r) => r.status !== 'passed')?.output.slice(-2000),
      hint: "Check that the suite runs at all: seedfork run. An audit needs test cases in the runner's report.",
    });
}

/** Whether directory `dir` exists and holds anything. */
function hasEntries(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}
