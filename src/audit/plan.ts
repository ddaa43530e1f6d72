import { shuffle } from './shuffle.js';
import type { AuditRun } from './types.js';

/** Which audit runs to do; all by default. */
export type AuditRunSelection = 'repeat' | 'caches' | 'reverse' | 'shuffle' | 'workers' | 'shared';
export const ALL_RUNS: AuditRunSelection[] = ['repeat', 'caches', 'reverse', 'shuffle', 'workers', 'shared'];

/** One run of an audit, before it ran: the files in order, and how many at once. */
export interface PlannedRun {
  label: string;
  kind: AuditRun['kind'];
  order: string[];
  workers: number;
}

/**
 * The audit's runs: `repeat` isolated runs, one isolated run with every tool cache emptied
 * (`caches`: cold against warm), the forward / reverse / seeded-shuffle orders in
 * one sandbox (the setups of iDFlakies, Lam et al., ICST 2019), then the shared-host runs with 1
 * and with `workers` workers, kept apart because they must go last (what they leave on the host
 * would show through in later sandboxes).
 */
export function planAuditRuns(
  files: string[],
  selected: Set<AuditRunSelection>,
  options: {
    repeat: number;
    seed: number;
    workers: number;
    /** The forward order in one sandbox, the other orders' baseline (default true; a quick
     * audit compares the reverse order with its isolated run instead). */
    forward?: boolean;
  },
): { sandboxed: PlannedRun[]; shared: PlannedRun[] } {
  const { repeat, seed, workers } = options;
  const sandboxed: PlannedRun[] = [];
  if (selected.has('repeat'))
    for (let i = 1; i <= repeat; i++)
      sandboxed.push({ label: `isolated #${i}`, kind: 'isolated', order: files, workers });
  if (selected.has('caches'))
    sandboxed.push({ label: 'isolated: cold caches', kind: 'cold', order: files, workers });
  if ((selected.has('reverse') || selected.has('shuffle')) && options.forward !== false)
    sandboxed.push({ label: 'order: forward', kind: 'order', order: files, workers: 1 });
  if (selected.has('reverse'))
    sandboxed.push({ label: 'order: reverse', kind: 'order', order: [...files].reverse(), workers: 1 });
  if (selected.has('shuffle'))
    sandboxed.push({
      label: `order: shuffle (seed ${seed})`,
      kind: 'order',
      order: shuffle(files, seed),
      workers: 1,
    });
  const shared: PlannedRun[] = [];
  if (selected.has('workers'))
    shared.push({ label: 'shared: 1 worker', kind: 'shared', order: files, workers: 1 });
  if (selected.has('workers') || selected.has('shared'))
    shared.push({ label: `shared: ${workers} workers`, kind: 'shared', order: files, workers });
  return { sandboxed, shared };
}
