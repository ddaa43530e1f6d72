import type { Sandbox as BackendSandbox, LimitHit } from '../sandbox/types.js';

/** Options of {@link runCommand} (the SDK's `exec`). */
export interface CommandOptions {
  /** Working directory inside the sandbox (absolute). Default: the sandbox's project directory. */
  cwd?: string;
  /** Variables added to the sandbox's environment for this command. */
  env?: Record<string, string>;
  /** Run as this user of the sandbox's /etc/passwd (for example `postgres`). */
  user?: string;
  /** Kill the command (its whole process group) after this many ms: `timedOut`, exit code 124. */
  timeoutMs?: number;
  /** Aborting kills the command, as a timeout does. */
  signal?: AbortSignal;
}

/** What a finished command left, as testcontainers' `ExecResult` shapes it plus the time. */
export interface CommandResult {
  /** Exit code; 128+N when signal N ended it; 124 when it timed out. */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Wall time from start to exit, in ms. */
  durationMs: number;
  timedOut: boolean;
  /** The sandbox limit that stopped it (memory, pids, disk, output), when one did. */
  limit?: LimitHit;
}

/** How long after a command exits its output streams may take to end, in ms. */
const STREAM_GRACE_MS = 200;

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Run `argv` in `sandbox` to completion, its stdout and stderr kept apart (Sandbox.spawn with
 * pipes), with the output limit (`maxOutputBytes`, both streams together) enforced here: past
 * it the command is killed and `limit` names `output`.
 */
export async function runCommand(
  sandbox: BackendSandbox,
  argv: string[],
  options: CommandOptions & { env: Record<string, string>; cwd: string; maxOutputBytes?: number },
): Promise<CommandResult> {
  // incidents() tells what happened since the fork: a limit counts for this command when it is new
  const earlier = (await sandbox.incidents()).limit;
  const started = performance.now();
  const child = sandbox.spawn(argv, {
    cwd: options.cwd,
    env: options.env,
    ...(options.user ? { user: options.user } : {}),
  });
  child.stdin?.end();
  const max = options.maxOutputBytes ?? Number.POSITIVE_INFINITY;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let bytes = 0;
  let limit: LimitHit | undefined;
  let timedOut = false;
  const kill = () => child.kill('SIGKILL');
  const collect = (into: Buffer[]) => (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= max) into.push(chunk);
    else if (!limit) {
      limit = {
        name: 'output',
        value: max,
        message: `output limit reached: more than ${max} bytes of output (limits.output)`,
      };
      kill();
    }
  };
  child.stdout?.on('data', collect(out));
  child.stderr?.on('data', collect(err));
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          kill();
        }, options.timeoutMs);
  options.signal?.addEventListener('abort', kill, { once: true });
  if (options.signal?.aborted) kill();
  const exitCode = await new Promise<number>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 9) : 9)));
  });
  if (timer) clearTimeout(timer);
  options.signal?.removeEventListener('abort', kill);
  // the streams end after the exit event (what is still buffered belongs to the result), unless
  // a process the command left in the background holds them open: that one is not waited for
  const ended = Promise.all(
    [child.stdout, child.stderr].map(
      (s) => s && !s.readableEnded && new Promise((done) => s.once('close', done).once('end', done)),
    ),
  );
  await Promise.race([ended, new Promise((done) => setTimeout(done, STREAM_GRACE_MS))]);
  child.stdout?.destroy();
  child.stderr?.destroy();
  const incident = limit || earlier ? undefined : (await sandbox.incidents()).limit;
  return {
    exitCode: timedOut ? 124 : exitCode,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    durationMs: performance.now() - started,
    timedOut,
    ...(limit || incident ? { limit: limit ?? incident } : {}),
  };
}
