// A Vitest setup file: names the test that blocks its worker's event loop. Vitest's worker must
// answer its RPC within 60 s (birpc's default timeout in Vitest 3), or the run ends with an
// anonymous "[vitest-worker]: Timeout calling onTaskUpdate" and exit code 1 although every test
// passed. A synchronous child process (spawnSync, execFileSync) that runs for long is the usual
// cause: use runCli or runCommand instead.
import { expect } from 'vitest';

const TICK_MS = 1_000;
const WARN_MS = 20_000;

let last = Date.now();
setInterval(() => {
  const now = Date.now();
  const blocked = now - last - TICK_MS;
  last = now;
  if (blocked < WARN_MS) return;
  const { testPath, currentTestName } = expect.getState();
  console.warn(
    `worker-watch: the event loop of this Vitest worker was blocked for ${Math.round(blocked / 1000)} s, ` +
      `ending in ${testPath ?? '?'} > ${currentTestName ?? '(a hook)'}; past 60 s Vitest's RPC times out`,
  );
}, TICK_MS).unref();
