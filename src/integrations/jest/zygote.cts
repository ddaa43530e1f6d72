// The Jest worker zygote: started once on the host by the runner (runner.ts) with the setup of
// a Jest project on fd 4 (or by `seedfork run`, file-workers.ts, with the config to read, and
// then, as a second line, the module map its thread built meanwhile: module-map-thread.cts), it
// sets up jest-runner's testWorker and loads Jest's modules (the
// part of a worker's start that costs hundreds of ms of CPU), then is forked into each sandbox
// (forked-worker.cts), where the fork waits for its file on fd 3 (serve-file.cts). No code of
// the project's tests runs here (see warm-up.cts): it first runs in the forks.
import { enableCompileCache, flushCompileCache } from '../compile-cache.cjs';
import { forkIntoSandboxes, readSetup, readSetupLine, settleHeap } from '../forked-worker.cjs';
import { recordCompiledCode } from './code-cache.cjs';
import {
  buildModuleMap,
  loadAhead,
  type Prepared,
  prepare,
  type ReadSetup,
  readJestConfig,
  type Setup,
  serveChannel,
  setupFromConfig,
  setupOf,
} from './serve-file.cjs';
import { warmUp } from './warm-up.cjs';

async function main(): Promise<void> {
  // before Jest's modules load: hundreds of them, compiled on every start otherwise
  const cache = enableCompileCache();
  let prepared: Prepared;
  try {
    // the Jest runner sends the setup Jest made (its warm-up directory after it, once seedfork's
    // config is read); `seedfork run` asks for it to be read here
    const input = JSON.parse(readSetupLine()) as Setup | { read: ReadSetup; moduleMap?: 'next' };
    prepared =
      'read' in input ? await readAndPrepare(input.read, input.moduleMap === 'next') : await prepare(input);
  } catch (error) {
    process.stderr.write(
      `seedfork: the Jest worker zygote could not set up Jest: ${(error as Error).stack}\n`,
    );
    process.exit(1);
  }
  const rest = readSetup().trim();
  const { warmUpDir = prepared.setup.warmUpDir } = (rest ? JSON.parse(rest) : {}) as { warmUpDir?: string };
  // what the warm-up compiles into its test file's context, every fork compiles from V8's data
  const codeCache = recordCompiledCode();
  const warm = warmUpDir ? await warmUp(prepared, warmUpDir) : 'no warm-up';
  codeCache.stop();
  if (process.env.SEEDFORK_DEBUG)
    process.stderr.write(
      `seedfork: Jest worker zygote: ${warm}; compile cache ${cache}; ${codeCache.stats().recorded} modules' code cached\n`,
    );
  flushCompileCache();
  settleHeap();
  const forked = forkIntoSandboxes();
  if (!forked) process.exit(0);
  serveChannel(Promise.resolve(prepared));
}

/**
 * Read the project's Jest config and load Jest's modules, then set the worker up with the
 * module map: with `mapNext`, the one seedfork's process built meanwhile (module-map-thread.cts),
 * sent as the next line; built here when that line does not come (the thread failed).
 */
async function readAndPrepare(request: ReadSetup, mapNext: boolean): Promise<Prepared> {
  if (!mapNext) return prepare(await setupFromConfig(request));
  const read = await readJestConfig(request);
  await loadAhead(request.rootDir, read.config);
  const line = readSetupLine();
  const sent = line ? (JSON.parse(line) as { moduleMap?: unknown }).moduleMap : undefined;
  const moduleMap = sent ?? (await buildModuleMap(request.rootDir, read.config));
  return prepare(setupOf(request, read, moduleMap), true);
}

void main();
