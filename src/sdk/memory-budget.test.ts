import { expect, test } from 'vitest';
import { reserveMemory, sandboxesThatFit } from './memory-budget.js';

const GiB = 1024 ** 3;

test('reservations fit the budget; one more is refused naming the live ones, or waits its turn with wait', async () => {
  const first = await reserveMemory(GiB, 2.5 * GiB);
  const second = await reserveMemory(GiB, 2.5 * GiB);
  expect(sandboxesThatFit(GiB, 2.5 * GiB)).toBe(0);
  await expect(reserveMemory(GiB, 2.5 * GiB)).rejects.toThrow(
    /no memory for another sandbox: 2 live sandbox\(es\) reserve 2 GiB of the 2.5 GiB budget, and one more needs 1 GiB/,
  );
  // waiters are served first come, first served, as memory is released
  const order: string[] = [];
  const a = reserveMemory(GiB, 2.5 * GiB, { wait: true }).then((release) => {
    order.push('a');
    return release;
  });
  const b = reserveMemory(GiB, 2.5 * GiB, { wait: true }).then((release) => {
    order.push('b');
    return release;
  });
  await new Promise((r) => setTimeout(r, 20));
  expect(order).toEqual([]);
  first();
  first(); // idempotent: releases once
  const releaseA = await a;
  expect(order).toEqual(['a']);
  second();
  const releaseB = await b;
  expect(order).toEqual(['a', 'b']);
  // while some wait, a newcomer does not jump the queue
  const c = reserveMemory(GiB, 2.5 * GiB, { wait: true });
  releaseA();
  releaseB();
  (await c)();
  expect(sandboxesThatFit(GiB, 2.5 * GiB)).toBe(2);
});

test('a sandbox that needs more than the whole budget is refused at once, even with wait', async () => {
  await expect(reserveMemory(4 * GiB, 2 * GiB, { wait: true })).rejects.toThrow(
    /its memory limit \(4 GiB\) is more than the whole budget \(2 GiB\)/,
  );
});
