import { createHash } from 'node:crypto';
import type { FileCost } from './cost.js';
import { byPath, longestFirst, partition, type ShardStrategy, totalMs } from './partition.js';

/** One shard of a plan. */
export interface ShardPlan {
  /** 1-based, as in `--shard index/total`. */
  index: number;
  /** Files of this shard, costliest first. */
  files: FileCost[];
  /** Sum of the files' costs, in ms: the shard's work. */
  workMs: number;
  /** Predicted wall time with the plan's workers pulling the longest file first, in ms. */
  predictedMs: number;
}

/** The assignment of a suite's test files to shards. */
export interface Plan {
  /** sha256 (16 hex) of the sorted file list, the shard count and the strategy: shards of one
   * run share it, so `merge` can tell results of another suite or split apart. */
  suiteId: string;
  strategy: ShardStrategy;
  workers: number;
  /** Every file of the suite, sorted. */
  files: string[];
  shards: ShardPlan[];
  /** Largest shard's predicted time over the mean shard's (1 is perfect). */
  balance: number;
}

/**
 * Wall time, in ms, of `workers` workers that each take the next file of `queue` when they
 * become free (list scheduling, Graham 1969); 0 for an empty queue.
 */
export function listScheduleMs(queue: FileCost[], workers: number): number {
  const free = new Array<number>(Math.max(1, workers)).fill(0);
  for (const cost of queue) {
    let next = 0;
    for (let i = 1; i < free.length; i++) if (free[i]! < free[next]!) next = i;
    free[next]! += cost.ms;
  }
  return Math.max(...free);
}

/** Wall time of `costs` when workers take the costliest remaining file first (the local queue), in ms. */
export function predictWallMs(costs: FileCost[], workers: number): number {
  return listScheduleMs([...costs].sort(longestFirst), workers);
}

/**
 * Identity of a suite split: the same files, shard count and strategy give the same id
 * (`queue`: the files of a queue-mode build, whatever their timings).
 */
export function suiteIdOf(files: string[], shards: number, strategy: ShardStrategy | 'queue'): string {
  const sorted = [...files].sort(byPath);
  return createHash('sha256')
    .update(JSON.stringify({ files: sorted, shards, strategy }))
    .digest('hex')
    .slice(0, 16);
}

/** max / mean of `values`; 1 for an empty or all-zero list. */
export function balanceOf(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / (values.length || 1);
  return mean > 0 ? Math.max(...values) / mean : 1;
}

/**
 * Split a suite into `shards` shards with `strategy` and predict each shard's wall time when
 * run with `workers` workers. Deterministic: the same costs give the same plan on every machine.
 */
export function makePlan(
  costs: FileCost[],
  options: { shards: number; strategy: ShardStrategy; workers: number },
): Plan {
  const bins = partition(costs, options.shards, options.strategy);
  const shards = bins.map((files, i) => ({
    index: i + 1,
    files,
    workMs: totalMs(files),
    predictedMs: predictWallMs(files, options.workers),
  }));
  const files = costs.map((c) => c.file).sort(byPath);
  return {
    suiteId: suiteIdOf(files, options.shards, options.strategy),
    strategy: options.strategy,
    workers: options.workers,
    files,
    shards,
    balance: balanceOf(shards.map((s) => s.predictedMs)),
  };
}
