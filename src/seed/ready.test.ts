import { expect, test } from 'vitest';
import { shellQuote } from '../adapters/command.js';
import type { Sandbox } from '../sandbox/types.js';
import { type ReadyCheck, waitFor } from './ready.js';

test('waitFor times out on an injected clock, with the check and the log in the error', async () => {
  let t = 0;
  const never: ReadyCheck = { description: 'never', isReady: async () => false };
  const error = await waitFor('svc', never, {} as Sandbox, {
    timeoutMs: 1000,
    intervalMs: 0,
    now: () => (t += 400),
    logTail: () => 'last log line',
  }).catch((e) => e);
  expect(error.message).toBe('service svc was not ready after 1000 ms (waiting for never)');
  expect(error.details).toBe('last log line');
});

test('shellQuote', () => {
  expect(shellQuote('test/a.test.js')).toBe('test/a.test.js');
  expect(shellQuote("it's here.js")).toBe(`'it'\\''s here.js'`);
});
