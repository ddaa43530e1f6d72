import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { Sandbox } from '../sandbox/types.js';

/**
 * A readiness check: a small object that answers "is the service ready yet?".
 * Compose them with {@link waitFor}; never sleep a fixed time instead.
 */
export interface ReadyCheck {
  /** For error messages: "port 5432 listening". */
  readonly description: string;
  isReady(sandbox: Sandbox): Promise<boolean>;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Ready checks by kind; see the `ready` key of a command service. */
export const Ready = {
  /** A TCP socket listening on `port` in the sandbox's network namespace (IPv4 or IPv6). */
  port(port: number): ReadyCheck {
    return {
      description: `port ${port} listening`,
      isReady: async (sb) => (await sb.listeningSockets()).some((s) => s.port === port),
    };
  },
  /** A command that exits 0 inside the sandbox. */
  command(command: string, env: Record<string, string>, cwd: string): ReadyCheck {
    return {
      description: `\`${command}\` exits 0`,
      isReady: async (sb) =>
        (await sb.exec(['sh', '-c', command], { env, cwd, timeoutMs: 10_000 })).exitCode === 0,
    };
  },
  /** A line of the service log matching `pattern`. */
  logMessage(pattern: string, logFile: string): ReadyCheck {
    const re = new RegExp(pattern);
    return { description: `log matches /${pattern}/`, isReady: async () => re.test(readOr(logFile, '')) };
  },
  /** A file that exists inside the sandbox. */
  file(path: string): ReadyCheck {
    return { description: `${path} exists`, isReady: (sb) => sb.exists(path) };
  },
};

/** Options for {@link waitFor}. */
export interface WaitOptions {
  timeoutMs: number;
  /** Poll interval in ms (default 5). */
  intervalMs?: number;
  /** Returns a reason string when the service died, to stop waiting early. */
  died?: () => string | undefined;
  /** Text appended to errors (a log tail). */
  logTail?: () => string;
  /** Injectable clock, for tests. */
  now?: () => number;
  signal?: AbortSignal;
}

/**
 * Poll `check` until it passes.
 * @throws SeedforkError when the timeout passes or the service dies first, with its log tail.
 */
export async function waitFor(
  name: string,
  check: ReadyCheck,
  sandbox: Sandbox,
  options: WaitOptions,
): Promise<void> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted) throw new SeedforkError(`cancelled while waiting for ${name}`);
    if (await check.isReady(sandbox)) return;
    const died = options.died?.();
    if (died) {
      throw new SeedforkError(`service ${name} exited before it was ready (${died})`, {
        details: options.logTail?.(),
        hint: `Fix the service's command or configuration; its log is above.`,
      });
    }
    if (now() > deadline) {
      throw new SeedforkError(
        `service ${name} was not ready after ${options.timeoutMs} ms (waiting for ${check.description})`,
        {
          details: options.logTail?.(),
          hint: `Check its log above; raise seed.services.${name}.readyTimeoutMs if it is just slow.`,
        },
      );
    }
    await sleep(options.intervalMs ?? 5);
  }
}

/** The last `lines` lines of a log file, or a note that it is empty. */
export function tail(path: string, lines = 30): string {
  const text = readOr(path, '').trimEnd();
  if (!text) return `(${path} is empty)`;
  return `--- last lines of ${path} ---\n${text.split('\n').slice(-lines).join('\n')}`;
}
