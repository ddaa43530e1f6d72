import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { expect, test } from 'vitest';
import type { SpawnedProcess } from '../../sandbox/index.js';
import { talkToWorker } from './worker-client.js';

/**
 * A worker whose exit is reported before the lines it wrote last come out of its channel, as
 * a fork's can be (the zygote reports the exit, the channel is the fork's own socket): when it
 * is asked to run a file, it exits at once, and its channel gives the result `lagMs` later.
 */
function workerExitingFirst(lagMs: number): SpawnedProcess {
  const child = new EventEmitter() as EventEmitter & { exitCode: number | null; signalCode: null };
  child.exitCode = null;
  child.signalCode = null;
  const channel = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      if (chunk.toString().includes('"run"')) {
        child.exitCode = 0;
        child.emit('exit', 0, null);
        setTimeout(() => {
          channel.push(`${JSON.stringify({ result: { numFailingTests: 0 }, pid: 9 })}\n`);
          channel.push(null);
          channel.destroy();
        }, lagMs);
      }
      done();
    },
  });
  return Object.assign(child, {
    pid: 1234,
    stdout: null,
    stderr: null,
    stdio: [null, null, null, channel],
    kill: () => false,
  }) as unknown as SpawnedProcess;
}

test('a result that comes out of the channel after the worker exit was reported is still read', async () => {
  const talk = await talkToWorker(
    workerExitingFirst(50),
    { path: '/p/a.test.ts', workerId: 1 },
    { timeoutMs: 5000 },
  );
  expect(talk.outcome).toEqual({ result: { numFailingTests: 0 }, pid: 9 });
  expect(talk.timedOut).toBe(false);
});

test('with drain, the same: the exit does not end the wait for the result', async () => {
  const talk = await talkToWorker(
    workerExitingFirst(50),
    { path: '/p/a.test.ts', workerId: 1, drain: true },
    { timeoutMs: 5000 },
  );
  expect(talk.outcome?.result).toEqual({ numFailingTests: 0 });
});
