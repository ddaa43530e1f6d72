// Runs inside a seedfork sandbox: starts Vitest's own forks worker (its `workers/forks.js`) as a
// child with an IPC channel, and relays that channel over this process's stdin and stdout, which
// are all a sandboxed process shares with seedfork's pool (pool.ts). Frames: a 4-byte big-endian
// length, then the message as v8.serialize writes it (the "advanced" serialization Vitest uses).
// The worker's own stdout and stderr go to this process's stderr, so a test printing can never
// corrupt the channel. argv: <entrypoint> <execArgv as JSON>.
import { fork } from 'node:child_process';
import { deserialize, serialize } from 'node:v8';

const [entrypoint, execArgv] = process.argv.slice(2) as [string, string];
const worker = fork(entrypoint, [], {
  execArgv: JSON.parse(execArgv) as string[],
  serialization: 'advanced',
  stdio: ['ignore', 2, 2, 'ipc'],
});

let pending = Buffer.alloc(0);
process.stdin.on('data', (chunk: Buffer) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= 4) {
    const length = pending.readUInt32BE(0);
    if (pending.length < 4 + length) break;
    worker.send(deserialize(pending.subarray(4, 4 + length)));
    pending = pending.subarray(4 + length);
  }
});
process.stdin.on('end', () => worker.kill());

worker.on('message', (message) => {
  const payload = serialize(message);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  process.stdout.write(Buffer.concat([head, payload]));
});
worker.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
