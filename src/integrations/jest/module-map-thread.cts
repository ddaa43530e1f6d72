// A Jest project's module map built in a worker thread of seedfork's own process, for the Jest
// worker zygote (file-workers.ts starts it beside the zygote): Jest's crawl of the project's
// files (jest-haste-map) is the costliest part of the zygote's start, and the zygote does not
// need the map until it sets jest-runner's worker up, after it has read the config and loaded
// Jest's modules. On a machine with another core idle at start, the crawl runs there instead
// of before those. The thread reads the config itself (readConfigs, as the zygote does) and
// posts `{"moduleMap": …}` as one JSON line, or `{"error": message}`.
import { parentPort, workerData } from 'node:worker_threads';
import { enableCompileCache } from '../compile-cache.cjs';
import { buildModuleMap, type ReadSetup, readJestConfig } from './serve-file.cjs';

async function main(request: ReadSetup): Promise<string> {
  enableCompileCache();
  const { config } = await readJestConfig(request);
  return `${JSON.stringify({ moduleMap: await buildModuleMap(request.rootDir, config) })}\n`;
}

main(workerData as ReadSetup).then(
  (line) => parentPort?.postMessage({ line }),
  (error: Error) => parentPort?.postMessage({ error: error.message }),
);
