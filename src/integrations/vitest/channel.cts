// Preloaded (`node --require channel.cjs`) into Vitest's forks worker inside a seedfork sandbox:
// gives the worker the IPC channel it expects (`process.send` and `process.on('message')`, as
// Vitest's init-forks uses them) over fd 3, a socket to seedfork's pool (pool.ts) that the
// sandbox's helper passes on (`seedfork-ns exec --channel`). The worker's stdout and stderr stay
// its own, so a test printing can never corrupt the channel. Frames: a 4-byte big-endian length,
// then the message as v8.serialize writes it (the "advanced" serialization Vitest uses). When
// seedfork closes the channel the worker exits, as a forked child does when its parent goes.
import { Socket } from 'node:net';
import { deserialize, serialize } from 'node:v8';

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
process.send = ((message: unknown, ...rest: unknown[]) => {
  const callback = rest.find((arg) => typeof arg === 'function') as
    | ((error: Error | null) => void)
    | undefined;
  const payload = serialize(message);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return channel.write(Buffer.concat([head, payload]), (error) => callback?.(error ?? null));
}) as typeof process.send;
