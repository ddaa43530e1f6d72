import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { helperPath } from './helper.js';

/** A response line of `seedfork-ns serve` for one request, with the request id removed. */
type Listener = (text: string) => void;

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
    this.child = spawn(helperPath(), ['serve'], { stdio: ['pipe', 'pipe', 'inherit', 'pipe'] });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      const space = line.indexOf(' ');
      const listener = this.listeners.get(line.slice(0, space));
      listener?.(line.slice(space + 1));
    });
    this.child.on('exit', (code, signal) => {
      this.failure = new SeedforkError(`the namespace helper exited (${signal ?? `code ${code}`})`);
      for (const listener of this.listeners.values()) listener('lost');
    });
    this.child.on('error', (error) => {
      this.failure = error;
    });
    this.idle();
  }

  private static instance: Zygote | undefined;

  /** The process-wide helper, started on first use. */
  static get(): Zygote {
    if (!Zygote.instance || Zygote.instance.failure) Zygote.instance = new Zygote();
    return Zygote.instance;
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
   * Send a request; `onLine` receives each response line for it until it returns true (done).
   * Resolves when done.
   */
  request(fields: string[], onLine: (text: string) => boolean): Promise<void> {
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
      this.listeners.set(id, (text) => {
        if (onLine(text)) {
          this.listeners.delete(id);
          this.idle();
          resolve();
        }
      });
      (this.child.stdin as Writable).write(`${[id, ...fields].join('\0')}\0\0`);
    });
  }
}
