// The Jest worker zygote's warm-up: one synthetic test file of seedfork's own, run through the
// project's Jest config before the zygote is forked, so that every fork starts as a Jest worker
// that already ran a file does (plain `jest -w N` reuses its workers): Jest's and the
// transformer's modules loaded, their functions compiled, ts-jest's language service built.
// Measured on bench/runners.ts's ts-jest suite: a fork's CPU per file from about 230 ms to 140 ms
// (and to about 95 ms with the heap settled after it, forked-worker.cts's settleHeap).
//
// It runs on the host, so it runs no code of the project's tests: it is skipped when the config
// has setup files (setupFiles, setupFilesAfterEnv: code that runs with every test file) or a
// test environment of the project's own (outside node_modules), and when the warm-up file's
// transformer is not one known to start no thread or process (ts-jest, babel-jest). Jest's packages, transformers
// and their config files run, as they do in Jest's main process for globalSetup.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Prepared } from './serve-file.cjs';

/** What the warm-up reads of Jest's project config. */
interface WarmConfig {
  setupFiles?: string[];
  setupFilesAfterEnv?: string[];
  testEnvironment?: string;
  injectGlobals?: boolean;
  transform?: [string, string, unknown][];
}

/** A test file with nothing of the project in it, valid as TypeScript and as JavaScript. */
const WARM_TEST = `describe('seedfork warm-up', () => {
  test('compares', () => {
    expect([1, { a: 'x' }]).toEqual([1, { a: 'x' }]);
  });
});
`;

/** Why the config rules the warm-up out, or undefined when it may run. */
export function warmUpRuledOut(config: WarmConfig): string | undefined {
  if ((config.setupFiles?.length ?? 0) + (config.setupFilesAfterEnv?.length ?? 0) > 0) {
    return 'the config has setup files';
  }
  if (config.testEnvironment && !config.testEnvironment.includes(`${sep}node_modules${sep}`)) {
    return 'the test environment is a file of the project';
  }
  if (config.injectGlobals === false) return 'injectGlobals is off';
  // A transformer that starts threads (a native pool: @swc/jest) or a service process
  // (esbuild's) while it transforms the warm-up file would leave the zygote holding them, and a
  // fork holds neither the threads nor its own end of the service: only those known to do
  // neither transform it.
  const name = typescriptTransformed(config) ? 'warm-up.ts' : 'warm-up.js';
  for (const [pattern, transformer] of config.transform ?? []) {
    if (!new RegExp(pattern).test(name)) continue;
    if (!SAFE_TRANSFORMERS.some((safe) => transformer.includes(`${sep}node_modules${sep}${safe}${sep}`))) {
      return `its transformer ${transformer} is not one known to start no thread or process (${SAFE_TRANSFORMERS.join(', ')})`;
    }
    break; // Jest uses the first pattern that matches
  }
  return undefined;
}

/** Transformers that run in JavaScript on the calling thread, starting nothing. */
const SAFE_TRANSFORMERS = ['ts-jest', 'babel-jest'];

/** Whether a transform of the config takes .ts files (the warm-up file is TypeScript then). */
function typescriptTransformed(config: WarmConfig): boolean {
  return (config.transform ?? []).some(([pattern]) => new RegExp(pattern).test('warm-up.ts'));
}

/**
 * Run the synthetic test file once, from `dir` (seedfork's state directory: a path that stays
 * the same from run to run, so that its transform is a cache hit as the project's files are,
 * and that only the project's owner can write), as .ts when a transform of the config takes .ts
 * files, else .js; its name matches no default test pattern. Returns what happened, for the
 * zygote's log. Never throws: a warm-up that fails only leaves the forks cold.
 */
export async function warmUp(prepared: Prepared, dir: string): Promise<string> {
  const config = prepared.setup.config as WarmConfig;
  const ruledOut = warmUpRuledOut(config);
  if (ruledOut) return `warm-up skipped: ${ruledOut}`;
  const typescript = typescriptTransformed(config);
  const file = join(dir, `warm-up.${typescript ? 'ts' : 'js'}`);
  const send = process.send;
  try {
    // written only when missing or changed (mtime is part of no cache key, but a rewrite races
    // with another zygote reading it): atomically, by rename
    if (!existsSync(file) || readFileSync(file, 'utf8') !== WARM_TEST) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(`${file}.${process.pid}`, WARM_TEST);
      renameSync(`${file}.${process.pid}`, file);
    }
    // jest-circus reports test events with process.send in a worker: nobody listens here
    process.send = (() => true) as typeof process.send;
    const result = (await prepared.testWorker.worker({
      config: prepared.setup.config,
      globalConfig: prepared.setup.globalConfig,
      path: file,
      context: prepared.setup.context,
    })) as { numPassingTests?: number; testExecError?: { message?: string } };
    return result.numPassingTests === 1
      ? 'warmed up'
      : `warm-up failed: ${result.testExecError?.message ?? 'its test did not pass'}`;
  } catch (error) {
    return `warm-up failed: ${(error as Error).message}`;
  } finally {
    process.send = send;
  }
}
