// Runs one Jest test file inside a seedfork sandbox, the way Jest's own workers do: with
// jest-runner's testWorker (`setup` with the module map, then `worker`), found from the project's
// root so that the project's Jest version runs it. Started by the runner (runner.ts) as
// `node worker.cjs <request.json> <result.json>`; writes `{ result, events }` or `{ error }`.
// Jest's per-test events (test-case-start, test-case-result) reach a worker's parent through
// `process.send`; here they are collected and replayed by the runner.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface Request {
  rootDir: string;
  path: string;
  config: { id: string };
  globalConfig: unknown;
  context: unknown;
  moduleMap: unknown;
}

const [requestPath, resultPath] = process.argv.slice(2) as [string, string];
const request = JSON.parse(readFileSync(requestPath, 'utf8')) as Request;
const events: unknown[] = [];
// jest-worker's messageParent sends [PARENT_MESSAGE_CUSTOM, [event, args]] with process.send
process.send = ((message: [number, unknown]) => {
  events.push(message[1]);
  return true;
}) as typeof process.send;

async function main(): Promise<unknown> {
  const runner = dirname(require.resolve('jest-runner', { paths: [request.rootDir] }));
  const testWorker = require(join(runner, 'testWorker.js')) as {
    setup(data: unknown): Promise<void>;
    worker(data: unknown): Promise<unknown>;
  };
  await testWorker.setup({
    serializableResolvers: [{ config: request.config, serializableModuleMap: request.moduleMap }],
  });
  return testWorker.worker({
    config: request.config,
    globalConfig: request.globalConfig,
    path: request.path,
    context: request.context,
  });
}

main().then(
  (result) => {
    writeFileSync(resultPath, JSON.stringify({ result, events }));
    process.exit(0); // handles a test left open must not keep the sandbox's worker alive
  },
  (error: Error) => {
    writeFileSync(resultPath, JSON.stringify({ error: { message: error.message, stack: error.stack } }));
    process.exit(1);
  },
);
