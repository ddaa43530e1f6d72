import { fileURLToPath } from 'node:url';
import type { RunningTemplate } from '../../sandbox/process-template.js';
import { startWorkerZygote } from '../worker-zygote.js';

/** The worker zygote (zygote.cts): Jest loaded once on the host, forked into each sandbox. */
const ZYGOTE = fileURLToPath(new URL('./zygote.cjs', import.meta.url));

/** Whether the zygote's absence was said already (once per process). */
let saidNoZygote = false;

/**
 * Start the worker zygote of one Jest project in `rootDir`: Jest's modules loaded once on the
 * host, forked into each sandbox. Light to import: the runner starts it before it loads the rest
 * of seedfork. Undefined where it cannot run (said once on stderr: workers start afresh, slower)
 * or when SEEDFORK_ZYGOTE=0 asks for fresh workers.
 * @param input its setup on fd 4: the whole JSON, or Jest's setup as a first line and then, when
 *   seedfork's config is read, `{"warmUpDir": …}` (zygote.cts reads both)
 */
export function startJestZygote(
  rootDir: string,
  input: string | (string | Promise<string>)[],
  env: Record<string, string>,
): Promise<RunningTemplate | undefined> {
  return startWorkerZygote([process.execPath, ZYGOTE], { cwd: rootDir, env, input }, (reason) => {
    if (!saidNoZygote)
      process.stderr.write(`seedfork: Jest workers start afresh in each sandbox (slower): ${reason}\n`);
    saidNoZygote = true;
  });
}
