import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { CancelledError } from '../errors/seedfork-error.js';
import { Slots } from './slots.js';

test('never runs more tasks at once than it has slots, and serves waiters in arrival order', async () => {
  const slots = new Slots(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  await Promise.all(
    [30, 5, 5, 5, 5].map((ms, i) =>
      slots.use(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await sleep(ms);
        running--;
      }),
    ),
  );
  expect(most).toBe(2);
  expect(started).toEqual([0, 1, 2, 3, 4]);
  expect(slots.waiting).toBe(0);
});

test('frees the slot when a task throws', async () => {
  const slots = new Slots(1);
  await expect(slots.use(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  expect(await slots.use(async () => 'next')).toBe('next');
});

test('a task still waiting when the signal aborts does not run', async () => {
  const abort = new AbortController();
  const slots = new Slots(1, abort.signal);
  let ran = false;
  const first = slots.use(() => sleep(20));
  const second = slots.use(async () => {
    ran = true;
  });
  abort.abort();
  await first;
  await expect(second).rejects.toBeInstanceOf(CancelledError);
  expect(ran).toBe(false);
});
