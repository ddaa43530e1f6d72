import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { WarmPool } from './warm-pool.js';

/** Items that record being prepared, handed out and released. */
function factory(prepareMs = 5) {
  let made = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const released: number[] = [];
  const prepare = async () => {
    const id = ++made;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await sleep(prepareMs);
    inFlight--;
    return {
      id,
      release: async () => {
        released.push(id);
        return false;
      },
    };
  };
  return { prepare, made: () => made, maxInFlight: () => maxInFlight, released };
}

test('prepares ahead up to `ahead`, `parallel` at a time, and never more than expected', async () => {
  const f = factory();
  const pool = new WarmPool(f.prepare, { ahead: 3, parallel: 1 });
  pool.expect(5);
  await sleep(60);
  expect(f.made()).toBe(3);
  expect(f.maxInFlight()).toBe(1);
  const taken = [];
  for (let i = 0; i < 5; i++) taken.push(await pool.acquire());
  await sleep(30);
  expect(f.made()).toBe(5); // exactly the five expected, none wasted
  expect(new Set(taken.map((t) => t.id)).size).toBe(5); // each handed out once
  await pool.close();
  expect(f.released).toEqual([]);
});

test('an acquire beyond what was expected prepares its own; close releases what nobody took', async () => {
  const f = factory();
  const pool = new WarmPool(f.prepare, { ahead: 2, parallel: 2 });
  pool.expect(2);
  await sleep(20);
  const first = await pool.acquire();
  const extra = [await pool.acquire(), await pool.acquire()];
  expect(new Set([first.id, ...extra.map((e) => e.id)]).size).toBe(3);
  pool.expect(2);
  await sleep(20);
  expect(pool.waiting).toBe(2);
  await pool.close();
  expect(f.released.sort()).toEqual([4, 5]);
});

test('a preparation that fails reaches the acquire that takes it, and no one else', async () => {
  let n = 0;
  const pool = new WarmPool(
    async () => {
      n++;
      if (n === 1) throw new Error('service would not start');
      return { id: n, release: async () => false };
    },
    { ahead: 2, parallel: 1 },
  );
  pool.expect(2);
  await expect(pool.acquire()).rejects.toThrow('service would not start');
  expect((await pool.acquire()).id).toBe(2);
  await pool.close();
});
