import { expect, test } from 'vitest';
import { BudgetExhausted } from './delta-debug.js';
import { firstThat, likelyCulprits } from './search.js';

test('likely culprits: before the victim in every failing order, never in a passing one', () => {
  const forward = ['a', 'b', 'c', 'd', 'v', 'e'];
  const reverse = [...forward].reverse();
  const shuffled = ['c', 'e', 'v', 'a', 'd', 'b'];
  // v failed forward and shuffled, passed reversed: c is the only file before it in both failing orders.
  expect(
    likelyCulprits(
      'v',
      ['a', 'b', 'c', 'd'],
      [
        { order: forward, flipped: true },
        { order: reverse, flipped: false },
        { order: shuffled, flipped: true },
      ],
    ),
  ).toEqual(['c']);
  // no passing order: every file before it in all failing orders
  expect(likelyCulprits('v', ['a', 'b', 'c', 'd'], [{ order: forward, flipped: true }])).toEqual([
    'a',
    'b',
    'c',
    'd',
  ]);
});

test('firstThat: probes side by side, stops starting new ones at the first that holds, and throws a probe’s error only when none held', async () => {
  const started: number[] = [];
  const probe = (hit: number) => async (n: number) => {
    started.push(n);
    await new Promise((r) => setTimeout(r, 5));
    return n === hit;
  };
  expect(await firstThat([1, 2, 3, 4, 5, 6], 2, probe(3))).toBe(3);
  // two lanes: 1 and 2, then 3 and 4 in flight when 3 holds; 5 and 6 never start
  expect(started.sort()).toEqual([1, 2, 3, 4]);
  started.length = 0;
  expect(await firstThat([1, 2, 3], 2, probe(9))).toBeUndefined();
  expect(started.sort()).toEqual([1, 2, 3]);
  const failing = async (n: number) => {
    if (n === 2) throw new BudgetExhausted('--max-runs 1 reached');
    return false;
  };
  await expect(firstThat([1, 2, 3], 1, failing)).rejects.toThrow(/--max-runs 1 reached/);
  // a hit beside a budget error still counts
  const mixed = async (n: number) => {
    if (n === 1) throw new BudgetExhausted('spent');
    await new Promise((r) => setTimeout(r, 5));
    return n === 2;
  };
  expect(await firstThat([1, 2], 2, mixed)).toBe(2);
});
