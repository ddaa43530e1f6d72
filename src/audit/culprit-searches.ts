import type { FileResult } from '../report/types.js';
import { runPool } from '../run/pool.js';
import type { AuditEvent } from './audit.js';
import { classify, observe } from './classify.js';
import type { Step } from './executor.js';
import { likelyCulprits, SequenceRunner, searchCulprits } from './search.js';
import type { AuditState } from './state.js';

type SearchKind = 'polluter' | 'state-setter';

/** Options of {@link runCulpritSearches}. */
export interface SearchOptions {
  /** Sandboxed sequences all searches may use together (--max-runs). */
  maxRuns: number;
  /** Epoch ms after which no new sequence starts (--timeout). */
  deadline: number;
  /** Why `deadline` is set, for the notes of searches it stops (default: `--timeout reached`). */
  deadlineReason?: string;
  /** Searches running at once. */
  workers: number;
  /** Whether the runner can run single test cases (then culprits are narrowed to test cases). */
  filtersTests: boolean;
  /**
   * Searches one at a time, each probing its candidate files alone, `workers` side by side,
   * before delta debugging, and culprits named to the file (quick audits): every search then
   * starts from the culprits of the ones before it, and a lone polluter takes one round of
   * short sequences.
   */
  oneAtATime?: boolean;
  emit: (event: AuditEvent) => void;
  /** Throws CancelledError once the audit is cancelled. */
  checkAbort: () => void;
  signal?: AbortSignal;
}

/**
 * Search the polluters of every order-dependent test and the state-setters of every brittle
 * one (iFixFlakies, Shi et al., FSE 2019), from the sandboxed order that showed the flip,
 * `workers` searches at a time over one shared budget of sequences. Culprits one search finds
 * are tried first by the next (one polluter, many victims). Each finished search is saved into
 * `state` at once.
 */
export async function runCulpritSearches(
  state: AuditState,
  sequence: (steps: Step[]) => Promise<FileResult[]>,
  options: SearchOptions,
): Promise<void> {
  const runner = new SequenceRunner(sequence, {
    maxRuns: options.maxRuns,
    deadline: options.deadline,
    ...(options.deadlineReason ? { deadlineReason: options.deadlineReason } : {}),
  });
  const { runs } = state;
  const observed = observe(runs);
  const jobs: { key: string; victim: { file: string; name: string }; kind: SearchKind }[] = [];
  for (const [key, { ref, observations }] of observed) {
    const { category } = classify(observations);
    if (category === 'order-dependent') jobs.push({ key, victim: ref, kind: 'polluter' });
    if (category === 'brittle') jobs.push({ key, victim: ref, kind: 'state-setter' });
  }
  const known: Record<SearchKind, { file: string; name: string }[]> = { polluter: [], 'state-setter': [] };
  const testsOf = (file: string) =>
    [...observed.values()].filter((t) => t.ref.file === file).map((t) => t.ref.name);
  await runPool(
    jobs,
    options.oneAtATime ? 1 : Math.max(1, options.workers),
    async (job) => {
      const want = job.kind === 'polluter' ? 'failed' : 'passed';
      const outcomes = observed.get(job.key)!.observations;
      const source = runs.find(
        (r) => r.kind === 'order' && outcomes.some((o) => o.run === r.label && o.status === want),
      );
      if (!source) {
        state.searches.set(job.key, {
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
      const victim = `${job.victim.file} > ${job.victim.name}`;
      options.emit({ type: 'search-start', victim, kind: job.kind });
      const search = await searchCulprits(runner, job.victim, prefix, job.kind, {
        filtersTests: options.filtersTests,
        testsOf,
        from: source.label,
        known: known[job.kind],
        likely,
        singleProbes: options.oneAtATime ? Math.max(1, options.workers) : 0,
        narrowTests: !options.oneAtATime,
      });
      if (search.status === 'found')
        known[job.kind].push(
          ...(search.tests.length > 0 ? search.tests : search.files.map((file) => ({ file, name: '' }))),
        );
      options.checkAbort();
      if (search.status === 'budget') {
        state.complete = false;
        state.notes.push(
          `the ${job.kind} search for ${victim} stopped (${search.note}); the ${job.kind} is among: ${(search.candidates ?? []).join(', ')}`,
        );
      }
      state.searches.set(job.key, search);
      state.save();
      options.emit({ type: 'search-done', victim, search });
    },
    options.signal,
  );
}
