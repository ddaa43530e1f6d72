import { byPath } from '../plan/partition.js';
import { writeFileAtomic } from '../report/write.js';
import { classify, observe } from './classify.js';
import { confidenceOf } from './confidence.js';
import { findConflicts } from './conflicts.js';
import { renderHtml } from './html.js';
import type { Leftovers } from './leftovers.js';
import {
  type AuditReport,
  type AuditRun,
  type Category,
  type ClassifiedTest,
  type CulpritSearch,
  SEVERITY,
} from './types.js';

const emptyCounts = (): Record<Category, number> =>
  Object.fromEntries(SEVERITY.map((c) => [c, 0])) as Record<Category, number>;

/**
 * What an audit has found so far: its runs, leftovers, culprit searches and notes, and the
 * report they make. {@link save} rewrites the JSON report (and, at the end, the HTML one), so
 * an interrupted audit keeps what it found.
 */
export class AuditState {
  readonly runs: AuditRun[] = [];
  leftovers: Leftovers[] = [];
  readonly searches = new Map<string, CulpritSearch>();
  readonly notes: string[] = [];
  complete = true;

  constructor(
    private readonly started: number,
    private readonly seed: number,
    private readonly suite: AuditReport['suite'],
    private readonly paths: { json: string; html: string },
    private readonly forks: () => number,
  ) {}

  /** Every test case classified from the runs so far, most severe first, with its search. */
  report(): AuditReport {
    const tests: ClassifiedTest[] = [];
    for (const [key, { ref, observations }] of observe(this.runs)) {
      let verdict = classify(observations);
      // a search outlived by reruns that showed the test non-deterministic is left out
      const searched = this.searches.get(key);
      const search =
        verdict.category === 'order-dependent' || verdict.category === 'brittle' ? searched : undefined;
      if (verdict.category === 'order-dependent' && search?.status === 'not-reproduced')
        verdict = {
          category: 'non-deterministic',
          reason: `failed once after other tests in one sandbox, but the same order passed when rerun twice: not order-dependent (${search.note})`,
        };
      tests.push({
        ...ref,
        ...verdict,
        observations,
        ...(search ? { search } : {}),
        confidence: confidenceOf(verdict.category, observations),
      });
    }
    tests.sort(
      (a, b) =>
        SEVERITY.indexOf(a.category) - SEVERITY.indexOf(b.category) ||
        byPath(a.file, b.file) ||
        byPath(a.name, b.name),
    );
    const counts = emptyCounts();
    for (const t of tests) counts[t.category]++;
    const { conflicts, common } = findConflicts(this.leftovers, tests);
    const notes = [...this.notes];
    if (common.length > 0)
      notes.push(
        `${common.length} path${common.length === 1 ? '' : 's'} written by every file (the runner's or a tool's own state, not counted as conflicts): ${common.slice(0, 3).join(', ')}${common.length > 3 ? ', …' : ''}`,
      );
    if (this.leftovers.length > 0 && this.leftovers.every((l) => l.binds === undefined))
      notes.push(
        'binds were not traced (this sandbox has no seccomp filter): port conflicts come only from ports still listening when a file ended',
      );
    return {
      version: 1,
      startedAt: new Date(this.started).toISOString(),
      durationMs: Date.now() - this.started,
      seed: this.seed,
      suite: this.suite,
      runs: this.runs.map((r) => ({
        label: r.label,
        kind: r.kind,
        workers: r.workers,
        durationMs: r.durationMs,
        order: r.order,
        failed: r.results.reduce((n, f) => n + f.tests.filter((t) => t.status === 'failed').length, 0),
        tests: r.results.reduce((n, f) => n + f.tests.length, 0),
      })),
      tests,
      leftovers: this.leftovers,
      conflicts,
      complete: this.complete,
      notes,
      counts,
      forks: this.forks(),
    };
  }

  /** Write the JSON report (and the HTML one when `final`); returns the report. */
  save(final = false): AuditReport {
    const r = this.report();
    writeFileAtomic(this.paths.json, `${JSON.stringify(r, null, 2)}\n`);
    if (final) writeFileAtomic(this.paths.html, renderHtml(r));
    return r;
  }
}
