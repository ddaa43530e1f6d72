import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import type { SpawnedProcess } from '../../sandbox/index.js';
import { ChannelPoolWorker } from './channel-worker.js';

/** A worker process that never answers: its channel swallows what is sent. */
function silentWorker(): SpawnedProcess & { exit(code: number): void } {
  const child = new EventEmitter();
  return Object.assign(child, {
    pid: 1,
    stdout: null,
    stderr: null,
    stdio: [null, null, null, new PassThrough()],
    exitCode: null,
    signalCode: null,
    kill: () => true,
    exit(code: number) {
      (child as unknown as { exitCode: number }).exitCode = code;
      child.emit('exit', code, null);
    },
  }) as unknown as SpawnedProcess & { exit(code: number): void };
}

class TestWorker extends ChannelPoolWorker {
  readonly child_ = silentWorker();
  async start(): Promise<void> {
    this.attach(this.child_);
  }
  async stop(): Promise<void> {}
}

const nextMessage = (worker: TestWorker) =>
  new Promise<{ type?: string; error?: Error }>((done) =>
    worker.on('message', (m) => done(m as { type?: string })),
  );

describe('ChannelPoolWorker', () => {
  test('a worker that exits before it answers start is answered for, with an error, as soon as it exits', async () => {
    const worker = new TestWorker();
    await worker.start();
    worker.send({ type: 'start', __vitest_worker_request__: true });
    const answer = nextMessage(worker);
    worker.child_.exit(137);
    expect(await answer).toMatchObject({ type: 'started', error: expect.any(Error) });
  });

  test('a stop sent to a worker that has exited is answered at once', async () => {
    const worker = new TestWorker();
    await worker.start();
    worker.child_.exit(0);
    const answer = nextMessage(worker);
    worker.send({ type: 'stop', __vitest_worker_request__: true });
    expect(await answer).toMatchObject({ type: 'stopped' });
  });
});
