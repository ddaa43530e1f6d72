import type { Duplex } from 'node:stream';
import type { SpawnedProcess } from '../../sandbox/index.js';

/** What a Jest worker ends with (serve-file.cts): Jest's TestResult, or why the file could not run. */
export interface Outcome {
  result?: unknown;
  error?: { message: string; stack?: string };
  /** The worker's pid in the sandbox's PID namespace. */
  pid?: number;
  /** With `drain`: what the file left open (Node's active resource names, `Timeout x2`), as the
   * worker says (it runs test code: only words for a warning). */
  open?: unknown;
}

/** How a worker's file went: its outcome, unless it broke the protocol, timed out or died. */
export interface Talk {
  outcome?: Outcome;
  /** Why the worker was stopped for breaking the protocol (it runs test code). */
  broken?: string;
  timedOut: boolean;
}

/** How long the end of a worker's channel and its exit wait for each other, in ms. */
const END_WAIT_MS = 500;

/** Resolves after {@link END_WAIT_MS}, keeping no process alive. */
function moment(): Promise<void> {
  return new Promise((done) => setTimeout(done, END_WAIT_MS).unref());
}

/** A message over the worker's channel larger than this is refused (the worker runs test code). */
const MAX_MESSAGE_CHARS = 64 * 1024 * 1024;

/**
 * Hand one file to a Jest worker that waits for it (serve-file.cts) over its channel (fd 3),
 * pass Jest's per-test events on as they come, and wait until the worker closed its channel or
 * exited. The worker is killed past `timeoutMs`, when `signal` aborts, or when it sends what is
 * not the protocol.
 * @param request the file (absolute path) and Jest's worker id for it
 */
export async function talkToWorker(
  child: SpawnedProcess,
  request: { path: string; workerId: number; drain?: boolean },
  options: {
    timeoutMs: number;
    onEvent?: (event: string, args: unknown) => Promise<void>;
    signal?: AbortSignal;
  },
): Promise<Talk> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const onAbort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const channel = child.stdio[3] as Duplex;
    let outcome: Outcome | undefined;
    let events = Promise.resolve();
    let broken: string | undefined;
    let pending = '';
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => {
      pending += chunk;
      for (let end = pending.indexOf('\n'); end >= 0 && !broken; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        try {
          const message = JSON.parse(line) as Outcome & { event?: [string, unknown] };
          if (message.event) {
            const [event, args] = message.event;
            if (options.onEvent) events = events.then(() => options.onEvent!(event, args));
          } else outcome = message;
        } catch {
          broken = `sent a line that is not seedfork's protocol: ${line.slice(0, 200)}`;
        }
      }
      if (pending.length > MAX_MESSAGE_CHARS) broken = `sent a message over ${MAX_MESSAGE_CHARS} characters`;
      if (broken) child.kill('SIGKILL');
    });
    channel.on('error', () => {});
    const closed = new Promise((done) => channel.once('close', done));
    const exited = new Promise((done) =>
      child.exitCode !== null || child.signalCode !== null
        ? done(null)
        : child.once('exit', () => done(null)),
    );
    if (child.exitCode === null && child.signalCode === null) {
      channel.write(`${JSON.stringify({ run: request })}\n`);
    }
    await Promise.race([closed, exited]);
    // A fork's exit comes by another path than its channel (the zygote reports it), so it can
    // come before the last lines the worker wrote, its result among them: read the channel to
    // its end (bounded: a process the test started may hold the channel open after the worker).
    await Promise.race([closed, moment()]);
    // its exit tells why the channel closed: give it a moment to come (not when a result came
    // and the worker was asked to drain: the caller waits for its exit, as Jest waits for a worker's)
    if (!(outcome && request.drain)) await Promise.race([exited, moment()]);
    await events;
    return { ...(outcome && !broken ? { outcome } : {}), ...(broken ? { broken } : {}), timedOut };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
