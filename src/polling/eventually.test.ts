import assert from 'node:assert/strict';
import { expect, test } from 'vitest';
import { eventually } from './eventually.js';

test('returns what the first passing attempt returns', async () => {
  let calls = 0;
  const value = await eventually(
    () => {
      calls++;
      assert.ok(calls >= 3, 'not yet');
      return calls;
    },
    { timeoutMs: 2000, intervalMs: 5 },
  );
  expect(value).toBe(3);
});

test('fails with the last assertion error, its expected and actual kept, and how long it waited', async () => {
  let n = 0;
  const error = await eventually(
    () => {
      n++;
      assert.equal(n, -1);
    },
    { timeoutMs: 120, intervalMs: 20 },
  ).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(assert.AssertionError);
  const e = error as assert.AssertionError;
  expect(e.expected).toBe(-1);
  expect(e.actual).toBe(n);
  expect(e.message).toMatch(/Expected values to be strictly equal/);
  expect(e.message).toMatch(/eventually: still failing after \d+ ms and \d+ attempts/);
  const waited = Number(/after (\d+) ms/.exec(e.message)![1]);
  expect(waited).toBeGreaterThanOrEqual(100);
  expect(waited).toBeLessThan(1000);
  expect(n).toBeGreaterThan(2);
});

test('an attempt that never settles fails at the deadline, with the previous attempt error', async () => {
  let n = 0;
  const started = performance.now();
  const error = await eventually(
    () => {
      if (++n === 1) throw new Error('row not there yet');
      return new Promise(() => {});
    },
    { timeoutMs: 100, intervalMs: 5 },
  ).catch((e: unknown) => e as Error);
  expect(performance.now() - started).toBeLessThan(1000);
  expect((error as Error).message).toMatch(
    /row not there yet\neventually: attempt 2 did not settle before the 100 ms timeout/,
  );
});

test('a thrown non-Error is named in the message; bad options are a TypeError', async () => {
  await expect(
    eventually(
      () => {
        throw 'plain string';
      },
      { timeoutMs: 10, intervalMs: 5 },
    ),
  ).rejects.toThrow(/still failing after \d+ ms and \d+ attempts?; last attempt threw: plain string/);
  await expect(eventually(() => {}, { timeoutMs: -1 })).rejects.toThrow(TypeError);
});
