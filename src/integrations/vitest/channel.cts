// The IPC channel Vitest's forks worker expects (`process.send` and `process.on('message')`, as
// Vitest's init-forks uses them), over fd 3: a socket to seedfork's pool (pool.ts) that the
// sandbox's helper passes on (`seedfork-ns exec --channel`). Connected by channel-preload.cts
// (`node --require`) in a worker started afresh, or by zygote.cts in a worker forked from the
// zygote. The worker's stdout and stderr stay its own, so a test printing can never corrupt the
// channel. Frames: a 4-byte big-endian length, then the message as v8.serialize writes it (the
// "advanced" serialization Vitest uses). When seedfork closes the channel the worker exits, as a
// forked child does when its parent goes.
import { Socket } from 'node:net';
import { deserialize, serialize } from 'node:v8';

let send: ((message: unknown, ...rest: unknown[]) => boolean) | undefined;

/**
 * A `process.send` for a worker that loads before its channel exists (in the zygote): what it
 * sends goes through the channel that {@link connectChannel} opens later. Vitest's worker binds
 * `process.send` when it loads, so the stand-in must be in place by then.
 * @throws Error when called before the channel is connected
 */
export function deferredSend(message: unknown, ...rest: unknown[]): boolean {
  if (!send) throw new Error('seedfork: the worker sent a message before its channel was connected');
  return send(message, ...rest);
}

/** Open the channel on fd 3 and make it the process's IPC channel (see the top of this file). */
export function connectChannel(): void {
  const channel = new Socket({ fd: 3, readable: true, writable: true });
  let pending = Buffer.alloc(0);

  // Messages that come while the worker is still loading (before it listens) wait for it, as
  // Node's own channel keeps them.
  const early: unknown[] = [];
  process.on('newListener', (event) => {
    if (event !== 'message') return;
    queueMicrotask(() => {
      for (const message of early.splice(0)) process.emit('message', message, undefined);
    });
  });

  channel.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      const message = deserialize(pending.subarray(4, 4 + length));
      pending = pending.subarray(4 + length);
      if (process.listenerCount('message') > 0) process.emit('message', message, undefined);
      else early.push(message);
    }
  });

  channel.on('end', () => process.exit(0));
  channel.on('error', () => process.exit(1));

  // process.send(message[, sendHandle[, options]][, callback]): handles are not carried
  send = (message: unknown, ...rest: unknown[]) => {
    const callback = rest.find((arg) => typeof arg === 'function') as
      | ((error: Error | null) => void)
      | undefined;
    const payload = serialize(message);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(payload.length);
    return channel.write(Buffer.concat([head, payload]), (error) => callback?.(error ?? null));
  };
  process.send = deferredSend as typeof process.send;
}
