import { type RunningTemplate, startProcessTemplate } from '../sandbox/process-template.js';

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
  if (process.env.SEEDFORK_ZYGOTE === '0') return undefined;
  const started = await startProcessTemplate(argv, options);
  if ('unavailable' in started) {
    onUnavailable(started.unavailable);
    return undefined;
  }
  return started;
}
