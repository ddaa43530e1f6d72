import { expect, test } from 'vitest';
import { likelyCulprits } from './search.js';

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
