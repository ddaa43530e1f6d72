import { EventEmitter } from 'node:events';
import { appendFileSync } from 'node:fs';
import { constants } from 'node:os';
import { PassThrough } from 'node:stream';
import type { AgentClient, AgentJob } from './agent-client.js';

/** The signal number of `signal` (a name or a number; default SIGTERM, as ChildProcess.kill). */
export function signalNumber(signal: NodeJS.Signals | number = 'SIGTERM'): number {
  return typeof signal === 'number' ? signal : (constants.signals[signal] ?? constants.signals.SIGTERM);
}

/** The name of signal number `n`, or null. */
function signalName(n: number): NodeJS.Signals | null {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return (entry?.[0] as NodeJS.Signals | undefined) ?? null;
}

/**
 * A command started in a guest through its agent, shaped like Node's ChildProcess as far as
 * seedfork reads one (Sandbox.spawn): `exit` with a code or a signal, `kill`, and stdout and
 * stderr streams, or its output appended to a host log file. It has no host pid, and no stdin
 * (the agent gives jobs /dev/null).
 */
export class GuestProcess extends EventEmitter {
  readonly pid = undefined;
  readonly stdin = null;
  readonly stdout: PassThrough | null;
  readonly stderr: PassThrough | null;
  readonly stdio: [null, PassThrough | null, PassThrough | null];
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  killed = false;
  private readonly job: AgentJob;

  /**
   * @param logFile append stdout and stderr to this host file instead of streaming them
   * @param maxLogBytes stop appending past this many bytes (the sandbox's output limit)
   */
  constructor(
    agent: AgentClient,
    argv: string[],
    options: {
      cwd?: string;
      env?: Record<string, string>;
      user?: string;
      logFile?: string;
      maxLogBytes?: number;
    },
  ) {
    super();
    const { logFile, maxLogBytes = Number.POSITIVE_INFINITY } = options;
    this.stdout = logFile ? null : new PassThrough();
    this.stderr = logFile ? null : new PassThrough();
    this.stdio = [null, this.stdout, this.stderr];
    let logged = 0;
    this.job = agent.start(argv, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.user ? { user: options.user } : {}),
      onOutput: (chunk, stream) => {
        if (logFile) {
          if (logged >= maxLogBytes) return;
          logged += chunk.length;
          appendFileSync(logFile, chunk);
        } else (stream === 'stdout' ? this.stdout : this.stderr)?.write(chunk);
      },
    });
    this.job.done.then(
      (exit) => this.finish(exit.exitCode),
      // the agent refused it, or the guest is gone and the command with it
      () => this.finish(128 + constants.signals.SIGKILL),
    );
  }

  /** The agent's id of the command's job. */
  get jobId(): number {
    return this.job.id;
  }

  /** Send `signal` to the command's process group in the guest. */
  kill(signal?: NodeJS.Signals | number): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.killed = true;
    this.job.kill(signalNumber(signal));
    return true;
  }

  private finish(code: number): void {
    if (code > 128 && signalName(code - 128)) this.signalCode = signalName(code - 128);
    else this.exitCode = code;
    this.stdout?.end();
    this.stderr?.end();
    this.emit('exit', this.exitCode, this.signalCode);
    this.emit('close', this.exitCode, this.signalCode);
  }
}
