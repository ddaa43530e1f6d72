import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { deserialize, serialize } from 'node:v8';
import type { SpawnedProcess } from '../../sandbox/index.js';

/** How long a worker whose channel was closed may take to exit before it is killed, in ms. */
const STOP_GRACE_MS = 1000;

/**
 * Vitest 4's `PoolWorker` (vitest/node, https://vitest.dev/advanced/pool) over a Vitest forks
 * worker in a sandbox, whose IPC channel is its fd 3: messages are v8-serialized and framed by
 * a 4-byte big-endian length, as channel.cts reads and writes them. Subclasses say where the
 * worker comes from (`start`) and what its end means; a sandbox is never reused: one per task
 * (file), as `isolate` asks.
 */
export abstract class ChannelPoolWorker {
  readonly name: string = 'seedfork';
  /** Vitest's main process would hand transformed modules over as files in its /tmp, which a
   * sandbox's private /tmp does not show: they come over the channel instead. */
  readonly cacheFs = false;
  protected readonly events = new EventEmitter();
  /** The worker once started, until stopped. */
  protected child: SpawnedProcess | undefined;
  private pending = Buffer.alloc(0);
  /** Vitest's requests that expect an answer (`start`, `stop`), sent and answered. */
  private readonly requested = new Set<string>();
  private readonly answered = new Set<string>();

  abstract start(): Promise<void>;

  on(event: string, callback: (arg: unknown) => void): void {
    this.events.on(event, callback);
  }

  off(event: string, callback: (arg: unknown) => void): void {
    this.events.off(event, callback);
  }

  /** Send a message to the worker: framed v8 serialization over its channel (fd 3). A worker
   * that has exited answers `start` and `stop` through {@link answerForExited}. */
  send(message: unknown): void {
    const type = (message as { type?: string }).type;
    if (type === 'start' || type === 'stop') this.requested.add(type);
    if (!this.child || this.child.exitCode !== null) {
      this.answerForExited();
      return;
    }
    const payload = serialize(message);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(payload.length);
    (this.child.stdio[3] as Writable).write(Buffer.concat([head, payload]));
  }

  /**
   * Answer what Vitest asked of a worker that exited before it answered (killed by a timeout, a
   * limit or Ctrl-C): `started` with an error, `stopped`. Vitest would otherwise wait for its
   * start or stop timeout (60 s) before it let go of the worker, and its close with it.
   */
  private answerForExited(): void {
    for (const [request, response] of [
      ['start', 'started'],
      ['stop', 'stopped'],
    ] as const) {
      if (!this.requested.has(request) || this.answered.has(request)) continue;
      this.answered.add(request);
      const error = request === 'start' ? { error: new Error('the worker exited before it started') } : {};
      setImmediate(() => this.received({ __vitest_worker_response__: true, type: response, ...error }));
    }
  }

  deserialize(data: unknown): unknown {
    return data;
  }

  /** A sandbox is never reused: each task gets a fresh one. */
  canReuse(): boolean {
    return false;
  }

  /** Take `child` as this task's worker: its messages become `message` events, its end `exit`
   * (after `onExit`, which may say why first). */
  protected attach(
    child: SpawnedProcess,
    onExit: (code: number | null) => Promise<void> | void = () => {},
  ): void {
    this.child = child;
    (child.stdio[3] as Readable).on('data', (chunk: Buffer) => this.receive(chunk));
    child.on('error', (error) => this.events.emit('error', error));
    child.on('exit', async (code) => {
      await onExit(code);
      this.events.emit('exit', code);
      this.answerForExited();
    });
  }

  /** A message from the worker, before Vitest sees it. */
  protected received(message: unknown): void {
    const type = (message as { type?: string }).type;
    if (type === 'started') this.answered.add('start');
    if (type === 'stopped') this.answered.add('stop');
    this.events.emit('message', message);
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32BE(0);
      if (this.pending.length < 4 + length) break;
      this.received(deserialize(this.pending.subarray(4, 4 + length)));
      this.pending = this.pending.subarray(4 + length);
    }
  }

  /** Close the worker's channel and give it {@link STOP_GRACE_MS} to exit; the caller then
   * kills its sandbox. The worker is forgotten. */
  protected async detach(): Promise<SpawnedProcess | undefined> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      (child.stdio[3] as Writable).end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((done) => (timer = setTimeout(done, STOP_GRACE_MS)))]);
      clearTimeout(timer); // a pending timer would hold Vitest's exit for a second
    }
    return child;
  }
}
