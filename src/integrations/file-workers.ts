import type { FileWorkersContext } from '../run/run.js';
import type { FileWorkers } from '../run/run-file.js';
import { jestFileWorkers } from './jest/file-workers.js';
import { vitestFileWorkers } from './vitest/file-workers.js';

/**
 * The runner's own workers for `seedfork run` and `seedfork audit` (see FileWorkers): Jest's
 * worker zygote, or Vitest hosted in seedfork's process with its worker zygote; undefined for
 * the other runners, whose CLI runs each file.
 */
export async function runnerFileWorkers(context: FileWorkersContext): Promise<FileWorkers | undefined> {
  return (await jestFileWorkers(context)) ?? (await vitestFileWorkers(context));
}
