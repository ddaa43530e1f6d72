// Runs one Jest test file inside a seedfork sandbox, the way Jest's own workers do: with
// jest-runner's testWorker (`setup` with the module map, then `worker`), found from the project's
// root so that the project's Jest version runs it. Started by the runner (runner.ts) before a
// file is known, so that its start-up is off the critical path; it talks JSON lines over fd 3,
// a socket the sandbox's helper passes on (`seedfork-ns exec --channel`):
//   runner -> worker: {"setup": {rootDir, config, globalConfig, context, moduleMap}}
//                     then, when a file is handed over, {"run": {path, workerId}}
//   worker -> runner: {"event": [name, args]} for each of Jest's per-test events as it happens,
//                     then {"result": TestResult} or {"error": {message, stack}}; then it exits.
// Between setup and run it loads what the first file would otherwise load (the transformers,
// the test environment and runner, jest-runtime), as a Jest worker that already ran a file has.
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';

interface Setup {
  rootDir: string;
  config: { id: string; testEnvironment?: string; testRunner?: string };
  globalConfig: unknown;
  context: unknown;
  moduleMap: unknown;
}

interface Run {
  path: string;
  workerId: number;
}

const channel = new Socket({ fd: 3, readable: true, writable: true });

function send(message: unknown): void {
  channel.write(`${JSON.stringify(message)}\n`);
}

/** Send the last message, then exit once it is written: handles a test left open must not keep
 * the sandbox's worker alive. */
function finish(message: unknown, code: number): void {
  channel.end(`${JSON.stringify(message)}\n`, () => process.exit(code));
}

// jest-worker's messageParent sends [PARENT_MESSAGE_CUSTOM, [event, args]] with process.send
process.send = ((message: [number, unknown]) => {
  send({ event: message[1] });
  return true;
}) as typeof process.send;

type TestWorker = {
  setup(data: unknown): Promise<void>;
  worker(data: unknown): Promise<unknown>;
};

let ready: Promise<{ testWorker: TestWorker; setup: Setup }> | undefined;

async function prepare(setup: Setup): Promise<{ testWorker: TestWorker; setup: Setup }> {
  const runner = dirname(require.resolve('jest-runner', { paths: [setup.rootDir] }));
  const testWorker = require(join(runner, 'testWorker.js')) as TestWorker;
  await testWorker.setup({
    serializableResolvers: [{ config: setup.config, serializableModuleMap: setup.moduleMap }],
  });
  await preload(runner, setup.config);
  return { testWorker, setup };
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

async function run(request: Run): Promise<unknown> {
  if (!ready) throw new Error('seedfork: the Jest worker was asked to run a file before its setup');
  const { testWorker, setup } = await ready;
  process.env.JEST_WORKER_ID = String(request.workerId);
  return testWorker.worker({
    config: setup.config,
    globalConfig: setup.globalConfig,
    path: request.path,
    context: setup.context,
  });
}

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
      run(message.run).then(
        (result) => finish({ result }, 0),
        (error: Error) => finish({ error: { message: error.message, stack: error.stack } }, 1),
      );
    }
  }
});
channel.on('end', () => process.exit(0)); // the runner went away, or gave the sandbox back unused
