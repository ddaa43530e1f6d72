import { describe, expect, test } from 'vitest';
import { seededRandom } from '../audit/shuffle.js';
import type { FileCost } from './cost.js';
import { partition, type ShardStrategy } from './partition.js';

function cost(file: string, ms: number, sizeBytes = 100): FileCost {
  return { file, ms, testMs: ms, setupMs: 0, source: 'recorded', sizeBytes };
}

/** Deterministic pseudo-random durations, so the test needs no fixture file. */
function randomCosts(count: number, seed: number): FileCost[] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, (_, i) =>
    cost(`test/f${i}.test.js`, Math.round(10 + 5000 * next() ** 3)),
  );
}

const names = (bins: FileCost[][]) => bins.map((b) => b.map((c) => c.file));
const loads = (bins: FileCost[][]) => bins.map((b) => b.reduce((s, c) => s + c.ms, 0));

describe.each<ShardStrategy>(['timing', 'hash', 'count'])('partition by %s', (strategy) => {
  test('puts every file in exactly one of exactly N shards', () => {
    const costs = randomCosts(57, 1);
    for (const n of [1, 2, 3, 8, 16]) {
      const bins = partition(costs, n, strategy);
      expect(bins).toHaveLength(n);
      const all = bins.flat().map((c) => c.file);
      expect(all).toHaveLength(costs.length);
      expect(new Set(all)).toEqual(new Set(costs.map((c) => c.file)));
    }
  });

  test('gives the same shards whatever order the files come in', () => {
    const costs = randomCosts(40, 2);
    const shuffled = [...costs].reverse();
    shuffled.push(shuffled.shift()!);
    expect(names(partition(shuffled, 6, strategy))).toEqual(names(partition(costs, 6, strategy)));
  });

  test('leaves shards empty when there are more shards than files', () => {
    const bins = partition([cost('a.js', 5), cost('b.js', 9)], 5, strategy);
    expect(bins).toHaveLength(5);
    expect(bins.filter((b) => b.length === 0)).toHaveLength(3);
    expect(bins.flat()).toHaveLength(2);
  });

  test('handles an empty suite', () => {
    expect(partition([], 3, strategy)).toEqual([[], [], []]);
  });
});

describe('partition by timing', () => {
  test('balances known costs: the textbook LPT example reaches the optimum', () => {
    // Graham's bad case for plain LPT on 2 machines: 3,3,2,2,2 -> LPT gives 7/5, optimum 6/6.
    const costs = ['a', 'b', 'c', 'd', 'e'].map((f, i) => cost(f, [3, 3, 2, 2, 2][i]!));
    expect(loads(partition(costs, 2, 'timing')).sort()).toEqual([6, 6]);
  });

  test('lists each shard costliest first and breaks cost ties by size, then path', () => {
    const bins = partition(
      [cost('z.js', 10, 5), cost('a.js', 10, 5), cost('big.js', 10, 900), cost('slow.js', 50)],
      1,
      'timing',
    );
    expect(names(bins)).toEqual([['slow.js', 'big.js', 'a.js', 'z.js']]);
  });

  test('beats hash and round-robin on skewed durations', () => {
    const costs = randomCosts(120, 3);
    const spread = (s: ShardStrategy) => {
      const l = loads(partition(costs, 8, s));
      return Math.max(...l) / (l.reduce((a, b) => a + b, 0) / l.length);
    };
    expect(spread('timing')).toBeLessThan(1.05);
    expect(spread('timing')).toBeLessThan(spread('hash'));
    expect(spread('timing')).toBeLessThan(spread('count'));
  });
});

describe('partition by hash', () => {
  test('keeps a file in its shard when other files come and go', () => {
    const costs = randomCosts(30, 4);
    const before = partition(costs, 4, 'hash');
    const after = partition([...costs.slice(5), cost('test/new.test.js', 1)], 4, 'hash');
    for (let i = 0; i < 4; i++)
      for (const c of after[i]!)
        if (c.file !== 'test/new.test.js') expect(before[i]!.map((x) => x.file)).toContain(c.file);
  });
});

describe('partition by count', () => {
  test('gives shards file counts that differ by at most one', () => {
    const counts = partition(randomCosts(23, 5), 4, 'count').map((b) => b.length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });
});
