import { resolve } from 'node:path';
import { adapterFor } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import { discoverTestFiles } from '../plan/discover.js';
import { byPath } from '../plan/partition.js';
import { writeFileAtomic } from '../report/write.js';
import { baseEnvironment } from '../run/environment.js';
import { runPool } from '../run/pool.js';
import { resolveWorkers } from '../run/run.js';
import type { SeedEvent } from '../seed/seed.js';
import { classify, observe } from './classify.js';
import { AuditExecutor } from './executor.js';
import { renderHtml } from './html.js';
import type { Leftovers } from './leftovers.js';
import { likelyCulprits, SequenceRunner, searchCulprits } from './search.js';
import { shuffle } from './shuffle.js';
import {
  type AuditReport,
  type AuditRun,
  type Category,
  type ClassifiedTest,
  type CulpritSearch,
  SEVERITY,
} from './types.js';

/** Which audit runs to do; all by default. */
export type AuditRunSelection = 'repeat' | 'reverse' | 'shuffle' | 'workers' | 'shared';
export const ALL_RUNS: AuditRunSelection[] = ['repeat', 'reverse', 'shuffle', 'workers', 'shared'];

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
  /** Wall-time budget of the whole audit in ms; default 30 min. Runs and searches stop at it. */
  timeoutMs?: number;
  /** Only files whose path contains one of these. */
  filter?: string[];
  /** Report paths (relative to the project root); defaults `.seedfork/audit.json` and `.html`. */
  json?: string;
  html?: string;
  /** Extra globs of sandbox paths the leftovers report ignores. */
  ignore?: string[];
  signal?: AbortSignal;
  onEvent?: (event: AuditEvent) => void;
}

/** Progress of an audit, for reporters. */
export type AuditEvent =
  | { type: 'plan'; files: number; runs: string[]; seed: number }
  | { type: 'seed'; event: SeedEvent }
  | { type: 'run-start'; label: string }
  | { type: 'run-done'; run: AuditRun }
  | { type: 'search-start'; victim: string; kind: 'polluter' | 'state-setter' }
  | { type: 'search-done'; victim: string; search: CulpritSearch }
  | { type: 'done'; report: AuditReport; paths: { json: string; html: string } };

const emptyCounts = (): Record<Category, number> =>
  Object.fromEntries(SEVERITY.map((c) => [c, 0])) as Record<Category, number>;

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
  const selected = new Set(options.runs ?? ALL_RUNS);
  const repeat = options.repeat ?? 3;
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
  const baseEnv = baseEnvironment(config);
  const executor = new AuditExecutor(loaded, adapter, {
    baseEnv,
    signal: options.signal,
    onSeedEvent: (event) => emit({ type: 'seed', event }),
    ignore: [...config.audit.ignore, ...(options.ignore ?? [])],
  });

  const plan: { label: string; kind: AuditRun['kind']; order: string[]; workers: number }[] = [];
  if (selected.has('repeat'))
    for (let i = 1; i <= repeat; i++)
      plan.push({ label: `isolated #${i}`, kind: 'isolated', order: files, workers });
  if (selected.has('reverse') || selected.has('shuffle'))
    plan.push({ label: 'order: forward', kind: 'order', order: files, workers: 1 });
  if (selected.has('reverse'))
    plan.push({ label: 'order: reverse', kind: 'order', order: [...files].reverse(), workers: 1 });
  if (selected.has('shuffle'))
    plan.push({
      label: `order: shuffle (seed ${seed})`,
      kind: 'order',
      order: shuffle(files, seed),
      workers: 1,
    });
  const sharedPlan: typeof plan = [];
  if (selected.has('workers'))
    sharedPlan.push({ label: 'shared: 1 worker', kind: 'shared', order: files, workers: 1 });
  if (selected.has('workers') || selected.has('shared'))
    sharedPlan.push({ label: `shared: ${workers} workers`, kind: 'shared', order: files, workers });
  emit({ type: 'plan', files: files.length, runs: [...plan, ...sharedPlan].map((p) => p.label), seed });

  const runs: AuditRun[] = [];
  let leftovers: Leftovers[] = [];
  const searches = new Map<string, CulpritSearch>();
  const notes: string[] = [];
  let complete = true;
  let runner: SequenceRunner | undefined;

  const report = (): AuditReport => {
    const observed = observe(runs);
    const tests: ClassifiedTest[] = [];
    for (const [key, { ref, observations }] of observed) {
      let verdict = classify(observations);
      const search = searches.get(key);
      if (verdict.category === 'order-dependent' && search?.status === 'not-reproduced')
        verdict = {
          category: 'non-deterministic',
          reason: `failed once after other tests in one sandbox, but the same order passed when rerun twice: not order-dependent (${search.note})`,
        };
      tests.push({ ...ref, ...verdict, observations, ...(search ? { search } : {}) });
    }
    tests.sort(
      (a, b) =>
        SEVERITY.indexOf(a.category) - SEVERITY.indexOf(b.category) ||
        byPath(a.file, b.file) ||
        byPath(a.name, b.name),
    );
    const counts = emptyCounts();
    for (const t of tests) counts[t.category]++;
    return {
      version: 1,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      seed,
      runs: runs.map((r) => ({
        label: r.label,
        kind: r.kind,
        workers: r.workers,
        durationMs: r.durationMs,
        order: r.order,
        failed: r.results.reduce((n, f) => n + f.tests.filter((t) => t.status === 'failed').length, 0),
        tests: r.results.reduce((n, f) => n + f.tests.length, 0),
      })),
      tests,
      leftovers,
      complete,
      notes,
      counts,
      forks: executor.forks,
    };
  };
  const save = (final = false) => {
    const r = report();
    writeFileAtomic(paths.json, `${JSON.stringify(r, null, 2)}\n`);
    if (final) writeFileAtomic(paths.html, renderHtml(r));
    return r;
  };
  const checkAbort = () => {
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
  };
  const outOfTime = (what: string) => {
    if (Date.now() <= deadline) return false;
    complete = false;
    notes.push(`--timeout reached: ${what} not done`);
    return true;
  };

  const doRun = async (p: (typeof plan)[number], withLeftovers = false) => {
    emit({ type: 'run-start', label: p.label });
    const t = Date.now();
    let results: AuditRun['results'];
    if (p.kind === 'isolated') {
      const out = await executor.isolated(p.order, p.workers, withLeftovers);
      results = out.results;
      if (withLeftovers) leftovers = out.leftovers;
    } else if (p.kind === 'order') {
      results = await executor.sequence(p.order.map((file) => ({ file })));
    } else {
      results = await executor.shared(p.order, p.workers);
    }
    checkAbort();
    const run: AuditRun = { ...p, durationMs: Date.now() - t, results };
    runs.push(run);
    save();
    emit({ type: 'run-done', run });
  };

  try {
    if (plan.length > 0) await executor.prepare();
    for (const [i, p] of plan.entries()) {
      if (outOfTime(`run "${p.label}"${plan.length - i > 1 ? ` and ${plan.length - i - 1} more` : ''}`))
        break;
      await doRun(p, p.kind === 'isolated' && !runs.some((r) => r.kind === 'isolated'));
    }
    const reported = runs.some((r) => r.results.some((f) => f.tests.length > 0));
    if (runs.length > 0 && adapter.results({ root, reportDir: '/' }).kind !== 'none' && !reported)
      throw new SeedforkError('no test case ran in any audit run', {
        details: runs[0]!.results.find((r) => r.status !== 'passed')?.output.slice(-2000),
        hint: "Check that the suite runs at all: seedfork run. An audit needs test cases in the runner's report.",
      });

    // Searches: polluters of order-dependent victims, state-setters of brittle tests.
    runner = new SequenceRunner((steps) => executor.sequence(steps), {
      maxRuns: options.maxRuns ?? 200,
      deadline,
    });
    const seqRunner = runner;
    const observed = observe(runs);
    const jobs: { key: string; victim: { file: string; name: string }; kind: 'polluter' | 'state-setter' }[] =
      [];
    for (const [key, { ref, observations }] of observed) {
      const { category } = classify(observations);
      if (category === 'order-dependent') jobs.push({ key, victim: ref, kind: 'polluter' });
      if (category === 'brittle') jobs.push({ key, victim: ref, kind: 'state-setter' });
    }
    const known: Record<'polluter' | 'state-setter', { file: string; name: string }[]> = {
      polluter: [],
      'state-setter': [],
    };
    const testsOf = (file: string) =>
      [...observed.values()].filter((t) => t.ref.file === file).map((t) => t.ref.name);
    await runPool(
      jobs,
      Math.max(1, workers),
      async (job) => {
        const want = job.kind === 'polluter' ? 'failed' : 'passed';
        const source = runs.find(
          (r) =>
            r.kind === 'order' &&
            observed.get(job.key)!.observations.some((o) => o.run === r.label && o.status === want),
        );
        if (!source) {
          searches.set(job.key, {
            kind: job.kind,
            status: 'not-searched',
            files: [],
            tests: [],
            runs: 0,
            note:
              job.kind === 'state-setter'
                ? 'it passed only on the shared host, not in a sandboxed order, so there is no order to search'
                : 'no sandboxed order to search',
          });
          return;
        }
        const prefix = source.order.slice(0, source.order.indexOf(job.victim.file));
        const outcomes = observed.get(job.key)!.observations;
        const likely = likelyCulprits(
          job.victim.file,
          prefix,
          runs
            .filter((r) => r.kind === 'order')
            .flatMap((r) => {
              const o = outcomes.find((x) => x.run === r.label);
              return o && (o.status === 'passed' || o.status === 'failed')
                ? [{ order: r.order, flipped: o.status === want }]
                : [];
            }),
        );
        emit({ type: 'search-start', victim: `${job.victim.file} > ${job.victim.name}`, kind: job.kind });
        const search = await searchCulprits(seqRunner, job.victim, prefix, job.kind, {
          filtersTests: adapter.filtersTests,
          testsOf,
          from: source.label,
          known: known[job.kind],
          likely,
        });
        if (search.status === 'found')
          known[job.kind].push(
            ...(search.tests.length > 0 ? search.tests : search.files.map((file) => ({ file, name: '' }))),
          );
        checkAbort();
        if (search.status === 'budget') {
          complete = false;
          notes.push(
            `the ${job.kind} search for ${job.victim.file} > ${job.victim.name} stopped (${search.note}); the ${job.kind} is among: ${(search.candidates ?? []).join(', ')}`,
          );
        }
        searches.set(job.key, search);
        save();
        emit({ type: 'search-done', victim: `${job.victim.file} > ${job.victim.name}`, search });
      },
      options.signal,
    );
    checkAbort();

    for (const [i, p] of sharedPlan.entries()) {
      if (
        outOfTime(
          `run "${p.label}"${sharedPlan.length - i > 1 ? ` and ${sharedPlan.length - i - 1} more` : ''}`,
        )
      )
        break;
      await doRun(p);
    }
    if (!selected.has('repeat'))
      notes.push(
        'no isolated runs (--runs without repeat): non-deterministic tests cannot be told apart, and no leftovers were collected',
      );
    if (sharedPlan.length > 0)
      notes.push(
        'the shared-host runs ran the suite without isolation: whatever it writes outside sandboxes (files in the project, /tmp, leftover processes) stays on this machine',
      );
    const final = save(true);
    emit({ type: 'done', report: final, paths });
    return final;
  } catch (error) {
    complete = false;
    if (runs.length > 0) {
      notes.push(
        options.signal?.aborted
          ? 'cancelled: the runs and searches above finished; the rest did not run'
          : `stopped by an error: ${(error as Error).message}`,
      );
      save(true);
    }
    if (options.signal?.aborted) throw new CancelledError('cancelled (Ctrl-C)');
    throw error;
  } finally {
    await executor.close();
  }
}
