import { expect, test } from 'vitest';
import { BudgetExhausted, minimize } from './delta-debug.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('finds a single culprit in about 2·log2(n) probes', async () => {
  for (const culprit of [0, 7, 31, 63]) {
    const r = await minimize(range(64), async (s) => s.includes(culprit));
    expect(r).toMatchObject({ status: 'found', items: [culprit] });
    expect(r.probes).toBeLessThanOrEqual(2 * 6 + 2);
  }
});

test('finds culprits that only act together, keeping their order', async () => {
  const r = await minimize(range(20), async (s) => s.includes(3) && s.includes(17));
  expect(r).toMatchObject({ status: 'found', items: [3, 17] });
});

test('a single item is its own answer without probing', async () => {
  expect(await minimize(['a'], async () => false)).toEqual({ status: 'found', items: ['a'], probes: 0 });
});

test('stops when the budget runs out and keeps what it narrowed', async () => {
  let left = 3;
  const r = await minimize(range(64), async (s) => {
    if (left-- <= 0) throw new BudgetExhausted('--max-runs 3 reached');
    return s.includes(50);
  });
  expect(r.status).toBe('budget');
  expect(r.items).toContain(50);
  expect(r.items.length).toBeLessThan(64);
  if (r.status === 'budget') expect(r.reason).toMatch(/max-runs/);
});
