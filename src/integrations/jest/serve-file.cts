// What a Jest worker inside a sandbox does, whether started afresh there (worker.cts) or forked
// from a worker zygote (zygote.cts): jest-runner's own testWorker (`setup` with the module map,
// then `worker`), found from the project's root so that the project's Jest version runs it, and
// the JSON-lines protocol with the runner (runner.ts) over fd 3:
//   runner -> worker: {"setup": {rootDir, config, globalConfig, context, moduleMap}} (a fresh
//                     worker; a zygote gets it on fd 4 instead), then, when a file is handed
//                     over, {"run": {path, workerId, drain?}}
//   worker -> runner: {"event": [name, args]} for each of Jest's per-test events as it happens,
//                     then {"result": TestResult, "pid"} or {"error": {message, stack}, "pid"};
//                     then it exits once that is written (with `drain`, the result names
//                     what the file left open).
//
// A forked worker never ends through Node's own end of the event loop: that first waits for the
// tasks V8 gave its background threads (a garbage collection of a large heap posts some), and
// in a fork those threads do not exist (they stayed in the zygote), so it would wait for ever.
import { mkdirSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';

/** The runner's setup of a worker: everything a Jest worker gets from Jest's main process. */
export interface Setup {
  rootDir: string;
  config: { id: string; testEnvironment?: string; testRunner?: string };
  globalConfig: unknown;
  context: unknown;
  moduleMap: unknown;
  /** Where the zygote keeps its warm-up file (warm-up.cts): in seedfork's state directory. */
  warmUpDir?: string;
}

interface Run {
  path: string;
  workerId: number;
  /** Name in the result what the file left open (Node's active resources beyond those open
   * before it ran), for `seedfork run` to warn as Jest does about a worker it force-exits. */
  drain?: boolean;
}

type TestWorker = {
  setup(data: unknown): Promise<void>;
  worker(data: unknown): Promise<unknown>;
};

/** A worker ready for its file: jest-runner's testWorker set up, Jest's modules loaded. */
export interface Prepared {
  testWorker: TestWorker;
  setup: Setup;
}

/** What `seedfork run` asks a zygote to read itself: Jest's config and module map, as Jest's
 * main process would for `argv` (Jest's CLI options). */
export interface ReadSetup {
  rootDir: string;
  argv: Record<string, unknown>;
  warmUpDir?: string;
}

/** A package of the project's Jest: from the root, else through jest, jest-cli, @jest/core. */
function jestPackage(rootDir: string, name: string): string {
  let from = rootDir;
  for (const next of ['jest', 'jest-cli', '@jest/core', undefined]) {
    try {
      return require.resolve(name, { paths: [from] });
    } catch (error) {
      if (!next) throw error;
      from = dirname(require.resolve(`${next}/package.json`, { paths: [from] }));
    }
  }
  throw new Error(`cannot find ${name}`);
}

/** A Jest project's config as jest-config's readConfigs gives it (one project). */
export interface JestConfigs {
  config: Setup['config'];
  globalConfig: unknown;
}

/**
 * Read the project's Jest config as Jest's main process does before it hands files to workers
 * (jest-config's readConfigs), and make its cache directory, as Jest's CLI does before the
 * module map is saved in it.
 * @throws Error when the config cannot be read, or it has several projects (Jest's `projects`)
 */
export async function readJestConfig(request: ReadSetup): Promise<JestConfigs> {
  const { readConfigs } = require(jestPackage(request.rootDir, 'jest-config')) as {
    readConfigs(
      argv: unknown,
      paths: string[],
    ): Promise<{ globalConfig: unknown; configs: Setup['config'][] }>;
  };
  const { globalConfig, configs } = await readConfigs({ $0: 'seedfork', _: [], ...request.argv }, [
    request.rootDir,
  ]);
  if (configs.length !== 1) throw new Error(`the Jest config has ${configs.length} projects`);
  const config = configs[0]!;
  const cacheDirectory = (config as { cacheDirectory?: string }).cacheDirectory;
  if (cacheDirectory) mkdirSync(cacheDirectory, { recursive: true });
  return { config, globalConfig };
}

/**
 * Build the project's module map as Jest's main process does (jest-runtime's createHasteMap:
 * a crawl of the project's files, kept in Jest's cache directory), in its serialized form.
 */
export async function buildModuleMap(rootDir: string, config: Setup['config']): Promise<unknown> {
  const runtime = require(jestPackage(rootDir, 'jest-runtime')) as {
    default: {
      createHasteMap(
        config: unknown,
        options: { maxWorkers: number; resetCache: boolean; watch: boolean; watchman: boolean },
      ): Promise<{ build(): Promise<{ moduleMap: { toJSON(): unknown } }> }>;
    };
  };
  const hasteMap = await runtime.default.createHasteMap(config, {
    maxWorkers: 1,
    resetCache: false,
    watch: false,
    watchman: false,
  });
  return (await hasteMap.build()).moduleMap.toJSON();
}

/**
 * Read the project's Jest config and build its module map ({@link readJestConfig},
 * {@link buildModuleMap}): the setup Jest's main process gives a worker.
 * @throws Error as readJestConfig does
 */
export async function setupFromConfig(request: ReadSetup): Promise<Setup> {
  const { config, globalConfig } = await readJestConfig(request);
  return setupOf(request, { config, globalConfig }, await buildModuleMap(request.rootDir, config));
}

/** The setup of a worker from what {@link readJestConfig} read and a module map. */
export function setupOf(request: ReadSetup, read: JestConfigs, moduleMap: unknown): Setup {
  return {
    rootDir: request.rootDir,
    config: read.config,
    globalConfig: read.globalConfig,
    context: {},
    moduleMap,
    ...(request.warmUpDir ? { warmUpDir: request.warmUpDir } : {}),
  };
}

/**
 * Set up jest-runner's testWorker and load what a first test file would (the transformers, the
 * test environment and runner, jest-runtime), as a Jest worker that already ran a file has;
 * with `loaded`, {@link loadAhead} did the latter already.
 */
export async function prepare(setup: Setup, loaded = false): Promise<Prepared> {
  const runner = jestRunnerDir(setup.rootDir);
  const testWorker = require(join(runner, 'testWorker.js')) as TestWorker;
  await testWorker.setup({
    serializableResolvers: [{ config: setup.config, serializableModuleMap: setup.moduleMap }],
  });
  if (!loaded) await preload(runner, setup.config);
  return { testWorker, setup };
}

/**
 * Load what a first test file would (see {@link prepare}) before the module map is there: it
 * needs only the config.
 * @throws Error when jest-runner cannot be loaded (as prepare would); the rest is a head start
 *   only, whose failure is left to the files' runs to report
 */
export async function loadAhead(rootDir: string, config: Setup['config']): Promise<void> {
  const runner = jestRunnerDir(rootDir);
  require(join(runner, 'testWorker.js'));
  await preload(runner, config);
}

/** jest-runner's directory, as the project's root resolves it. */
function jestRunnerDir(rootDir: string): string {
  return dirname(require.resolve('jest-runner', { paths: [rootDir] }));
}

/** Load the modules a first test file would: a head start only, so any failure is left to the
 * file's own run to report. */
async function preload(runner: string, config: Setup['config']): Promise<void> {
  try {
    const from = (name: string) => require(require.resolve(name, { paths: [runner] }));
    await from('@jest/transform').createScriptTransformer(config);
    from('jest-runtime');
    if (config.testEnvironment) require(config.testEnvironment);
    if (config.testRunner) require(config.testRunner);
  } catch {
    // an ESM-only environment or transformer: loaded when the file runs
  }
}

/**
 * Talk to the runner over fd 3 until the file is done, then exit: `ready` when the worker was
 * prepared already (a fork of the zygote), else it waits for the setup message.
 */
export function serveChannel(ready?: Promise<Prepared>): void {
  const channel = new Socket({ fd: 3, readable: true, writable: true });
  const send = (message: unknown) => channel.write(`${JSON.stringify(message)}\n`);
  // Send the last message, then exit once it is written, so that handles a test left open do
  // not keep the sandbox's worker alive; with `drain`, the message names them.
  let drain = false;
  let finished = false;
  // what was open before the file ran: what is open beyond it after is what the file left
  let openBefore: string[] = [];
  const finish = (message: unknown, code: number) => {
    finished = true;
    const open = drain ? leftOpen(openBefore, process.getActiveResourcesInfo()) : [];
    // the pid as the sandbox sees it, for the runner to list what a worker left running
    const line = `${JSON.stringify({ ...(message as object), pid: process.pid, ...(open.length > 0 ? { open } : {}) })}\n`;
    // what the file left open would keep the worker alive: end it now, as jest-worker would
    // end it (the runner warns with `open`). With nothing left open it ends now too, not at the
    // end of its event loop, where Node would wait for V8's background tasks (see the top)
    channel.end(line, () => process.exit(code));
  };
  // jest-worker's messageParent sends [PARENT_MESSAGE_CUSTOM, [event, args]] with process.send
  process.send = ((message: [number, unknown]) => {
    send({ event: message[1] });
    return true;
  }) as typeof process.send;

  const run = async (request: Run): Promise<unknown> => {
    if (!ready) throw new Error('seedfork: the Jest worker was asked to run a file before its setup');
    const { testWorker, setup } = await ready;
    process.env.JEST_WORKER_ID = String(request.workerId);
    openBefore = process.getActiveResourcesInfo();
    return testWorker.worker({
      config: setup.config,
      globalConfig: setup.globalConfig,
      path: request.path,
      context: setup.context,
    });
  };

  let pending = '';
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const message = JSON.parse(pending.slice(0, end)) as { setup?: Setup; run?: Run };
      pending = pending.slice(end + 1);
      if (message.setup) {
        ready = prepare(message.setup);
        ready.catch(() => {}); // reported to the run that waits for it
      }
      if (message.run) {
        drain = message.run.drain === true;
        run(message.run).then(
          (result) => finish({ result }, 0),
          (error: Error) => finish({ error: { message: error.message, stack: error.stack } }, 1),
        );
      }
    }
  });
  // the runner went away, or gave the sandbox back unused (after a result, the worker is
  // exiting already)
  channel.on('end', () => {
    if (!finished) process.exit(0);
  });
}

/**
 * The resources (Node's `process.getActiveResourcesInfo()` names: Timeout, TCPSocketWrap,
 * TCPServerWrap, …) in `after` beyond those in `before`, counted: what a test file left open.
 */
export function leftOpen(before: string[], after: string[]): string[] {
  const left = new Map<string, number>();
  for (const name of after) left.set(name, (left.get(name) ?? 0) + 1);
  for (const name of before) left.set(name, (left.get(name) ?? 0) - 1);
  return [...left].filter(([, n]) => n > 0).map(([name, n]) => (n > 1 ? `${name} x${n}` : name));
}
