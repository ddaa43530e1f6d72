// V8's code cache for the modules Jest compiles into every test file's context. Jest's runtime
// compiles each module a test file loads with vm.compileFunction in that file's own context,
// the modules of Jest itself included (expect, jest-circus's adapter, jest-snapshot,
// pretty-format...: jest-runtime's requireInternalModule): the same sources, compiled again in
// every file, by plain Jest too. The worker zygote's warm-up loads them once: recording them
// there (source, parameters and V8's cached data) lets every fork compile them from the cached
// data instead (V8 checks the data against the source's length and the flags, and this file
// checks the whole source and the parameters). Measured on bench/runners.ts's Jest suite: the
// compiles of a fork's file took about 39 ms, most of them Jest's own modules.
// Docs: https://nodejs.org/api/vm.html#vmcompilefunctioncode-params-options (cachedData,
// produceCachedData).
// the module object itself (jest-runtime calls its export), not a copy of its properties
import vm = require('node:vm');

/** What was compiled while recording, by file name. */
interface Recorded {
  source: string;
  params: string;
  data: Buffer;
}

type CompileFunction = typeof vm.compileFunction;

/** Counts of compiles served from the cache, for the zygote's log. */
export interface CodeCacheStats {
  recorded: number;
  used: number;
  rejected: number;
}

/**
 * Wrap node:vm's compileFunction (the export jest-runtime calls) so that, while recording,
 * every function compiled with a file name is compiled with produceCachedData and kept; later
 * compiles of the same file with the same source and parameters get that data as cachedData.
 * Calls that bring their own cachedData or produceCachedData, or no file name, pass through.
 * Node's own module loader does not go through this export: only callers of vm are affected.
 * @returns `stop()` ends the recording (the zygote calls it before it forks; what was recorded
 *   stays in use), `stats()` the counts so far.
 */
export function recordCompiledCode(): { stop(): void; stats(): CodeCacheStats } {
  const original: CompileFunction = vm.compileFunction;
  const recorded = new Map<string, Recorded>();
  const counts = { used: 0, rejected: 0 };
  let recording = true;
  const wrapped = function compileFunction(code, params, options) {
    const filename = options?.filename;
    if (!filename || options.cachedData !== undefined || options.produceCachedData) {
      return original(code, params, options);
    }
    const paramList = (params ?? []).join(',');
    const hit = recorded.get(filename);
    if (hit && hit.source === code && hit.params === paramList) {
      const fn = original(code, params, { ...options, cachedData: hit.data });
      if ((fn as { cachedDataRejected?: boolean }).cachedDataRejected) counts.rejected++;
      else counts.used++;
      return fn;
    }
    if (!recording) return original(code, params, options);
    const fn = original(code, params, { ...options, produceCachedData: true });
    const data = (fn as { cachedData?: Buffer }).cachedData;
    if (data) recorded.set(filename, { source: code, params: paramList, data });
    return fn;
  } as CompileFunction;
  (vm as { compileFunction: CompileFunction }).compileFunction = wrapped;
  return {
    stop: () => {
      recording = false;
    },
    stats: () => ({ recorded: recorded.size, ...counts }),
  };
}
