import { type RunningTemplate, startProcessTemplate } from '../sandbox/process-template.js';

/** Whether SEEDFORK_ZYGOTE=0 asks for the runners' workers started afresh, with no zygote. */
export function freshWorkersAsked(): boolean {
  return process.env.SEEDFORK_ZYGOTE === '0';
}

/**
 * Start a worker zygote (see startProcessTemplate): a runner's worker program loaded once on the
 * host, to be forked into each sandbox. Undefined when SEEDFORK_ZYGOTE=0 asks for workers started
 * afresh, or where the zygote cannot run here; `onUnavailable` is told why in that case.
 * @param argv the program: [node, ...options, script]
 * @param options.input its setup (the program reads it on fd 4)
 */
export async function startWorkerZygote(
  argv: string[],
  options: { cwd: string; env: Record<string, string>; input: string | (string | Promise<string>)[] },
  onUnavailable: (reason: string) => void = () => {},
): Promise<RunningTemplate | undefined> {
  if (freshWorkersAsked()) return undefined;
  const started = await startProcessTemplate(argv, options);
  if ('unavailable' in started) {
    onUnavailable(started.unavailable);
    return undefined;
  }
  return started;
}
