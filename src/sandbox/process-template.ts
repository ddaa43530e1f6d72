import { ProcessZygote, processZygoteUnavailable } from './namespace/process-zygote.js';
import type { ProcessTemplate } from './types.js';

/** A running {@link ProcessTemplate} that its owner stops. */
export interface RunningTemplate extends ProcessTemplate {
  /** Why it can fork no more (its program exited), or undefined while it can. */
  readonly unusable: string | undefined;
  /** Stop the program; processes forked from it that still run die with it. Never throws. */
  close(): Promise<void>;
}

/**
 * Start `argv`, a Node program that serves forks (src/integrations/forked-worker.cts), on the
 * host, to be forked into sandboxes with `Sandbox.spawnFrom`: a process zygote
 * (sandbox/namespace/process-zygote.ts). Undefined, with the reason, where this machine cannot
 * (the addon was not built): start the program afresh in each sandbox then.
 * Light to import (no backend): the runner integrations start their zygote before they load
 * the rest of seedfork.
 * @param options.input the program's setup, on its fd 4 (see ProcessZygote.start)
 */
export async function startProcessTemplate(
  argv: string[],
  options: { cwd: string; env: Record<string, string>; input: string | (string | Promise<string>)[] },
): Promise<RunningTemplate | { unavailable: string }> {
  const unavailable = processZygoteUnavailable();
  if (unavailable) return { unavailable };
  return ProcessZygote.start(argv, options);
}
