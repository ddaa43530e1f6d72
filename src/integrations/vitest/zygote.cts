// The Vitest worker zygote: started once on the host by the pool (pool.ts) with its setup on
// fd 4 ({"entrypoint": Vitest's workers/forks.js}), it loads Vitest's forks worker (the part
// of a worker's start that costs a Node start and Vitest's runner modules), then is forked into
// each sandbox (forked-worker.cts), where the fork connects its IPC channel on fd 3
// (channel.cts) and waits for Vitest's `start` message as a worker started afresh does. No code
// of the project's tests runs here: Vitest sends the files to run after the fork.
import { pathToFileURL } from 'node:url';
import { enableCompileCache, flushCompileCache } from '../compile-cache.cjs';
import { forkIntoSandboxes, readSetup, settleHeap } from '../forked-worker.cjs';
import { connectChannel, deferredSend } from './channel.cjs';

async function main(): Promise<void> {
  const { entrypoint } = JSON.parse(readSetup()) as { entrypoint: string };
  enableCompileCache(); // before Vitest's modules load
  // Vitest's worker binds process.send as it loads; the channel comes with the fork
  process.send = deferredSend as typeof process.send;
  try {
    await import(pathToFileURL(entrypoint).href);
  } catch (error) {
    process.stderr.write(
      `seedfork: the Vitest worker zygote could not load ${entrypoint}: ${(error as Error).stack}\n`,
    );
    process.exit(1);
  }
  flushCompileCache(); // forks leave through _exit: they never write it
  settleHeap();
  const forked = forkIntoSandboxes();
  if (!forked) process.exit(0);
  connectChannel();
}

void main();
