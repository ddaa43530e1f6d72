import { expect, test } from 'vitest';
import { shellQuote } from '../adapters/command.js';
import type { Sandbox } from '../sandbox/types.js';
import { listeningPorts, type ReadyCheck, waitFor } from './ready.js';

test('listeningPorts reads LISTEN sockets from /proc/net/tcp', () => {
  const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1`;
  expect(listeningPorts(text)).toEqual([5432]);
});

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
