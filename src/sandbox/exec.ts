import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { ExecOptions, ExecResult } from './types.js';

/** Most output kept from one command, in bytes; older output is dropped first. */
export const MAX_OUTPUT_BYTES = 8 * 1024 * 1024;
/** How long output is still read after the command exited, in ms. */
const OUTPUT_GRACE_MS = 200;

/** How {@link runToCompletion} starts the process on the host. */
export interface HostSpawn {
  /** Host working directory (the namespace helper takes the sandbox's as `--cwd` instead). */
  cwd?: string;
  /** Start it in its own process group and kill the whole group on timeout/abort (used where no
   * PID namespace does that for us). */
  groupKill?: boolean;
}

/**
 * Spawn `argv` (already wrapped for the backend) and wait for it. `options.cwd` is not used
 * here: the wrapper has placed it; `host` says how to start the process itself.
 */
export function runToCompletion(
  argv: string[],
  options: ExecOptions,
  host: HostSpawn = {},
): Promise<ExecResult> {
  const started = performance.now();
  const stdio = options.stdio ?? 'pipe';
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: host.cwd,
        env: options.env ?? {},
        stdio: stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : ['ignore', stdio, stdio],
        detached: host.groupKill === true,
      });
    } catch (error) {
      reject(error);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    const decoder = options.onOutput ? new StringDecoder('utf8') : undefined;
    const collect = (chunk: Buffer) => {
      if (decoder) {
        const text = decoder.write(chunk);
        if (text) options.onOutput?.(text);
      }
      chunks.push(chunk);
      bytes += chunk.length;
      while (bytes > MAX_OUTPUT_BYTES && chunks.length > 1) bytes -= chunks.shift()!.length;
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let timedOut = false;
    const killIt = () => {
      if (child.pid === undefined) return;
      try {
        if (host.groupKill) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            killIt();
          }, options.timeoutMs)
        : undefined;
    const onAbort = () => killIt();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    // Resolve when the command exits. Processes it left in the background may hold its output
    // pipes open; give them a moment to flush, then stop reading.
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const finish = () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        const exitCode = timedOut ? 124 : (code ?? 128 + (signal ? signalNumber(signal) : 9));
        resolve({
          exitCode,
          output: Buffer.concat(chunks).toString('utf8'),
          durationMs: performance.now() - started,
          timedOut,
        });
      };
      if (!child.stdout && !child.stderr) return finish();
      const grace = setTimeout(finish, OUTPUT_GRACE_MS);
      child.once('close', () => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}

/** Start a long-running command with its output appended to `logFile`, or with stdin, stdout
 * and stderr as pipes when there is none. */
export function spawnService(
  argv: string[],
  options: {
    env?: Record<string, string>;
    cwd?: string;
    logFile?: string;
    detached?: boolean;
    channel?: boolean;
  },
): ChildProcess {
  if (options.logFile === undefined) {
    return spawn(argv[0]!, argv.slice(1), {
      env: options.env ?? {},
      cwd: options.cwd,
      stdio: options.channel ? ['pipe', 'pipe', 'pipe', 'pipe'] : 'pipe',
      detached: options.detached ?? false,
    });
  }
  const fd = openSync(options.logFile, 'a');
  try {
    return spawn(argv[0]!, argv.slice(1), {
      env: options.env ?? {},
      cwd: options.cwd,
      stdio: ['ignore', fd, fd],
      detached: options.detached ?? false,
    });
  } finally {
    closeSync(fd);
  }
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
function signalNumber(signal: NodeJS.Signals): number {
  return SIGNALS[signal] ?? 9;
}
