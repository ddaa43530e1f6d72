// The Jest worker zygote: started once on the host by the runner (runner.ts) with the setup of
// a Jest project on fd 4 (or by `seedfork run`, file-workers.ts, with the config to read), it sets up jest-runner's testWorker and loads Jest's modules (the
// part of a worker's start that costs hundreds of ms of CPU), then is forked into each sandbox
// (forked-worker.cts), where the fork waits for its file on fd 3 (serve-file.cts). No code of
// the project's tests runs here (see warm-up.cts): it first runs in the forks.
import { enableCompileCache, flushCompileCache } from '../compile-cache.cjs';
import { forkIntoSandboxes, readSetup, readSetupLine, settleHeap } from '../forked-worker.cjs';
import {
  type Prepared,
  prepare,
  type ReadSetup,
  type Setup,
  serveChannel,
  setupFromConfig,
} from './serve-file.cjs';
import { warmUp } from './warm-up.cjs';

async function main(): Promise<void> {
  // before Jest's modules load: hundreds of them, compiled on every start otherwise
  const cache = enableCompileCache();
  let prepared: Prepared;
  try {
    // the Jest runner sends the setup Jest made (its warm-up directory after it, once seedfork's
    // config is read); `seedfork run` asks for it to be read here
    const input = JSON.parse(readSetupLine()) as Setup | { read: ReadSetup };
    prepared = await prepare('read' in input ? await setupFromConfig(input.read) : input);
  } catch (error) {
    process.stderr.write(
      `seedfork: the Jest worker zygote could not set up Jest: ${(error as Error).stack}\n`,
    );
    process.exit(1);
  }
  const rest = readSetup().trim();
  const { warmUpDir = prepared.setup.warmUpDir } = (rest ? JSON.parse(rest) : {}) as { warmUpDir?: string };
  const warm = warmUpDir ? await warmUp(prepared, warmUpDir) : 'no warm-up';
  if (process.env.SEEDFORK_DEBUG)
    process.stderr.write(`seedfork: Jest worker zygote: ${warm}; compile cache ${cache}\n`);
  flushCompileCache();
  settleHeap();
  const forked = forkIntoSandboxes();
  if (!forked) process.exit(0);
  serveChannel(Promise.resolve(prepared));
}

void main();
