// V8's code cache for the modules seedfork's own processes load (the CLI, the worker zygotes):
// Node's module compile cache (module.enableCompileCache, Node >= 22.1;
// https://nodejs.org/api/module.html#module-compile-cache) keeps the bytecode V8 made for each
// CommonJS and ES module on disk, so that the next process that loads the same file skips most
// of its compilation. Node checks each entry against the file's source (a hash) and keeps the
// entries of each V8 version apart, so a stale or foreign entry is compiled afresh, not used.
//
// Measured (bench/runners.ts's Jest suite): the Jest worker zygote is ready sooner, and every
// file waits for it. On Node 20, which has no such API, nothing is cached: the packages that
// add one there replace Node's CommonJS compile with their own, which loses the dynamic
// `import()` Jest needs for ES module configs and transformers.
import * as Module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What Node >= 22.1 adds to node:module (absent from Node 20's types). */
interface CompileCacheApi {
  enableCompileCache?(directory?: string): { status: number; message?: string; directory?: string };
  flushCompileCache?(): void;
  constants?: { compileCacheStatus?: { FAILED: number; ENABLED: number; DISABLED: number } };
}

const api = Module as unknown as CompileCacheApi;

/**
 * Where seedfork keeps the cache: `$XDG_CACHE_HOME/seedfork/compile-cache`, else
 * `~/.cache/seedfork/compile-cache` (a directory of the user's own, not a shared /tmp one);
 * Node adds a directory per V8 version under it.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'seedfork', 'compile-cache');
}

/**
 * Turn Node's module compile cache on for the modules this process loads from now on. Does
 * nothing on a Node without the API (before 22.1), when the user turned the cache off
 * (NODE_DISABLE_COMPILE_CACHE=1), or when it is on already (NODE_COMPILE_CACHE: the user's
 * directory is kept). A directory that cannot be made or written only costs the speed: Node
 * then compiles as it would anyway.
 * @returns what Node said: 'enabled', 'already enabled', 'disabled', 'unsupported', or
 *   'failed: <Node's message>'
 */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): string {
  if (!api.enableCompileCache) return 'unsupported';
  const result = api.enableCompileCache(compileCacheDir(env));
  const status = api.constants?.compileCacheStatus;
  if (result.status === status?.FAILED) return `failed: ${result.message ?? 'no reason given'}`;
  if (result.status === status?.DISABLED) return 'disabled';
  return result.status === status?.ENABLED ? 'enabled' : 'already enabled';
}

/**
 * Write the entries compiled so far to the cache now (Node >= 22.10; before that, Node writes
 * them when the process exits). A worker zygote calls it before it forks: its forks leave
 * through _exit and never write the cache, and the next run should find what this one compiled
 * even while this zygote still serves forks.
 */
export function flushCompileCache(): void {
  api.flushCompileCache?.();
}
