import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { helperPath } from './helper.js';

/**
 * One answer of `seedfork-ns serve` to a request (see cmd_serve in native/seedfork-ns.c), or
 * `lost` when the helper itself died. Parsed in one place: {@link parseReply}.
 */
export type Reply =
  | { kind: 'pid'; pid: number } // the helper forked the request's process
  | { kind: 'ready'; initPid: number } // start: the sandbox's PID 1 runs
  | { kind: 'error'; message: string } // the request failed; nothing more comes
  | { kind: 'exited'; code: number } // start: the sandbox is gone; how its init ended (128+N: signal N)
  | { kind: 'exit'; code: number } // exec: the command ended (128+N for signal N)
  | { kind: 'locked' } // lock: held until this process exits
  | { kind: 'probe'; state: 'held' | 'free' | 'missing' } // probe: a run lock's state
  | { kind: 'lost' }; // the helper exited; nothing more comes

/**
 * Parse a response line of `seedfork-ns serve` (the request id already removed).
 * @throws SeedforkError on a line the protocol does not have (a helper of another version).
 */
export function parseReply(text: string): Reply {
  const space = text.indexOf(' ');
  const word = space < 0 ? text : text.slice(0, space);
  const rest = space < 0 ? '' : text.slice(space + 1);
  const int = (): number => {
    const n = Number(rest);
    if (!Number.isInteger(n)) throw new SeedforkError(`the namespace helper sent a malformed line: ${text}`);
    return n;
  };
  switch (word) {
    case 'pid':
      return { kind: 'pid', pid: int() };
    case 'ready':
      return { kind: 'ready', initPid: int() };
    case 'exit':
      return { kind: 'exit', code: int() };
    case 'error':
      return { kind: 'error', message: rest.trim() };
    case 'exited':
      return { kind: 'exited', code: int() };
    case 'locked':
    case 'lost':
      return { kind: word };
    case 'held':
    case 'free':
    case 'missing':
      return { kind: 'probe', state: word };
    default:
      throw new SeedforkError(`the namespace helper sent an unknown line: ${text}`, {
        hint: 'Rebuild it with `npm run build`: the helper and seedfork are from different versions.',
      });
  }
}

type Listener = (reply: Reply) => void;

/**
 * Client of `seedfork-ns serve`: one small helper process per seedfork process that forks
 * sandboxes and runs commands in them on request. Forking from it costs a fraction of a
 * millisecond, where `child_process.spawn` forks the whole Node process, whose page tables
 * grow with its heap (≈3 ms at 100 MB RSS, ≈45 ms at 1 GB, measured here).
 *
 * Protocol (see cmd_serve in native/seedfork-ns.c): requests are NUL-separated fields ending
 * with an empty field; responses are "<id> <text>" lines. fd 3 is a lifeline pipe that this
 * process never writes: when seedfork exits or is killed it closes, and the helper kills every
 * sandbox that was not kept.
 */
export class Zygote {
  private readonly child: ChildProcess;
  private readonly listeners = new Map<string, Listener>();
  private nextId = 0;
  private pending = 0;
  private failure: Error | undefined;

  private constructor() {
    // Sandboxes' inits are forks of this helper and keep its environment's memory: it gets
    // only PATH, never seedfork's own (SEEDFORK_TOKEN); every command's comes with its request.
    this.child = spawn(helperPath(), ['serve'], {
      stdio: ['pipe', 'pipe', 'inherit', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      const space = line.indexOf(' ');
      const listener = this.listeners.get(line.slice(0, space));
      if (!listener) return;
      let reply: Reply;
      try {
        reply = parseReply(line.slice(space + 1));
      } catch (error) {
        reply = { kind: 'error', message: (error as Error).message };
      }
      listener(reply);
    });
    this.child.on('exit', (code, signal) => {
      this.failure = new SeedforkError(`the namespace helper exited (${signal ?? `code ${code}`})`);
      for (const listener of this.listeners.values()) listener({ kind: 'lost' });
    });
    this.child.on('error', (error) => {
      this.failure = error;
    });
    // Writing to a helper that just died fails with EPIPE: the exit handler above reports it.
    for (const stream of [this.child.stdin, this.child.stdio[3]]) stream?.on('error', () => {});
    this.idle();
  }

  /** The helper's host pid (for tests that kill it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private static instance: Zygote | undefined;

  /** The process-wide helper, started on first use. */
  static get(): Zygote {
    if (!Zygote.instance || Zygote.instance.failure) Zygote.instance = new Zygote();
    return Zygote.instance;
  }

  /** The process-wide helper if one is running, without starting one. */
  static current(): Zygote | undefined {
    return Zygote.instance && !Zygote.instance.failure ? Zygote.instance : undefined;
  }

  /**
   * Stop the process-wide helper, if one runs, as if this process had exited: its sandboxes that
   * were not kept are killed (each watches the lifeline), and the run locks it held
   * ({@link lock}) are free once it has exited. Requests still waiting get `lost`. The next
   * {@link get} starts a new helper. Resolves when the helper has exited.
   */
  static async stop(): Promise<void> {
    const zygote = Zygote.instance;
    Zygote.instance = undefined;
    if (!zygote || zygote.failure || zygote.child.exitCode !== null || zygote.child.signalCode !== null)
      return;
    const exited = new Promise<void>((done) => zygote.child.once('exit', () => done()));
    zygote.child.ref();
    (zygote.child.stdio[3] as Writable | null)?.destroy();
    zygote.child.stdin?.end();
    await exited;
  }

  // Keep Node alive only while a request waits for its answer.
  private busy(): void {
    if (this.pending++ === 0) {
      this.child.ref();
      (this.child.stdout as unknown as { ref(): void }).ref();
    }
  }
  private idle(): void {
    if (this.pending > 0 && --this.pending > 0) return;
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    for (const s of [this.child.stdin, this.child.stdio[3]]) (s as unknown as { unref?(): void }).unref?.();
  }

  /**
   * Send a request; `onReply` receives each reply to it until it returns true (done).
   * Resolves when done.
   */
  request(fields: string[], onReply: (reply: Reply) => boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    for (const f of fields) {
      if (f.includes('\0') || f === '') {
        return Promise.reject(
          new SeedforkError(`cannot pass an empty argument or one with a NUL byte: ${JSON.stringify(f)}`),
        );
      }
    }
    const id = String(++this.nextId);
    this.busy();
    return new Promise<void>((resolve) => {
      this.listeners.set(id, (reply) => {
        if (onReply(reply) || reply.kind === 'lost') {
          this.listeners.delete(id);
          this.idle();
          resolve();
        }
      });
      (this.child.stdin as Writable).write(`${[id, ...fields].join('\0')}\0\0`);
    });
  }

  /**
   * Take an exclusive lock on `path` (created if missing), held until this process exits.
   * @throws SeedforkError when it cannot be taken (someone else holds it).
   */
  async lock(path: string): Promise<void> {
    let failure: string | undefined;
    await this.request(['lock', path], (reply) => {
      if (reply.kind === 'error') failure = reply.message;
      else if (reply.kind === 'lost') failure = 'the namespace helper exited';
      return true;
    });
    if (failure) throw new SeedforkError(`cannot lock ${path}: ${failure}`);
  }

  /** Whether a lock taken with {@link lock} (by any process) is held on `path`. */
  async probe(path: string): Promise<'held' | 'free' | 'missing'> {
    let state: 'held' | 'free' | 'missing' = 'held'; // when in doubt, never reap
    await this.request(['probe', path], (reply) => {
      if (reply.kind === 'probe') state = reply.state;
      return true;
    });
    return state;
  }
}
