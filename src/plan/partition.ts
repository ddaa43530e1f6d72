import { createHash } from 'node:crypto';
import type { FileCost } from './cost.js';

/** How files are split into shards: `timing` (bin packing on costs), `hash` or `count`. */
export type ShardStrategy = 'timing' | 'hash' | 'count';

/** Code-unit order: the same on every machine, whatever its locale. */
export function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Costliest first; equal costs by size (bigger first), then by path. Deterministic. */
export function longestFirst(a: FileCost, b: FileCost): number {
  return b.ms - a.ms || b.sizeBytes - a.sizeBytes || byPath(a.file, b.file);
}

/** Sum of the files' predicted costs, in ms. */
export function totalMs(costs: FileCost[]): number {
  return costs.reduce((sum, c) => sum + c.ms, 0);
}

/**
 * Longest-processing-time-first bin packing (Graham, "Bounds on multiprocessing timing
 * anomalies", SIAM J. Appl. Math. 1969): costliest file first into the least loaded bin
 * (lowest index on ties), then a local search that moves or swaps one file between the most
 * and the least loaded bins while that lowers the larger of the two. LPT alone is within 4/3 of
 * optimal; the moves fix most of what it leaves when few files are large.
 */
function packByCost(costs: FileCost[], n: number): FileCost[][] {
  const bins: FileCost[][] = Array.from({ length: n }, () => []);
  const loads = new Array<number>(n).fill(0);
  for (const cost of [...costs].sort(longestFirst)) {
    let target = 0;
    for (let i = 1; i < n; i++) if (loads[i]! < loads[target]!) target = i;
    bins[target]!.push(cost);
    loads[target]! += cost.ms;
  }
  for (let round = 0; round < 10 * costs.length; round++) {
    if (!improveOnce(bins)) break;
  }
  return bins;
}

/** One move or swap between the fullest bin and another that lowers their maximum. */
function improveOnce(bins: FileCost[][]): boolean {
  const loads = bins.map(totalMs);
  let hi = 0;
  for (let i = 1; i < bins.length; i++) if (loads[i]! > loads[hi]!) hi = i;
  const order = loads.map((l, i) => ({ l, i })).sort((a, b) => a.l - b.l || a.i - b.i);
  for (const { i: lo } of order) {
    if (lo === hi) continue;
    const gap = loads[hi]! - loads[lo]!;
    // Moving (or swapping for a smaller file) `delta` from hi to lo lowers max(hi, lo) iff 0 < delta < gap.
    let best: { a: number; b: number; delta: number } | undefined;
    const from = bins[hi]!;
    const to = bins[lo]!;
    for (let a = 0; a < from.length; a++) {
      const move = from[a]!.ms;
      if (move < gap && (!best || Math.abs(gap / 2 - move) < Math.abs(gap / 2 - best.delta)))
        best = { a, b: -1, delta: move };
      for (let b = 0; b < to.length; b++) {
        const delta = from[a]!.ms - to[b]!.ms;
        if (delta > 0 && delta < gap && (!best || Math.abs(gap / 2 - delta) < Math.abs(gap / 2 - best.delta)))
          best = { a, b, delta };
      }
    }
    if (best) {
      const [moved] = from.splice(best.a, 1);
      if (best.b >= 0) from.push(...to.splice(best.b, 1));
      to.push(moved!);
      return true;
    }
  }
  return false;
}

/** Stable 32-bit hash of a path (first bytes of its SHA-1): the same on every machine. */
function pathHash(file: string): number {
  return createHash('sha1').update(file).digest().readUInt32BE(0);
}

/**
 * Split files into exactly `n` shards (some empty when n exceeds the file count). Every file
 * lands in exactly one shard, and the same costs give the same shards on every machine:
 * - `timing`: {@link packByCost} on the predicted costs;
 * - `hash`: by a hash of the path (stable as files come and go, blind to cost);
 * - `count`: round-robin over the sorted paths (equal file counts, blind to cost).
 * Files inside a shard are listed costliest first, the order its workers take them in.
 */
export function partition(costs: FileCost[], n: number, strategy: ShardStrategy): FileCost[][] {
  const shards = Math.max(1, Math.floor(n));
  let bins: FileCost[][];
  if (strategy === 'timing') {
    bins = packByCost(costs, shards);
  } else {
    bins = Array.from({ length: shards }, () => []);
    const sorted = [...costs].sort((a, b) => byPath(a.file, b.file));
    sorted.forEach((cost, i) => {
      bins[strategy === 'hash' ? pathHash(cost.file) % shards : i % shards]!.push(cost);
    });
  }
  return bins.map((bin) => bin.sort(longestFirst));
}
