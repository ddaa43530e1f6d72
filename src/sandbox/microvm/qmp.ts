import type { Socket } from 'node:net';
import { connectWhenReady } from './unix-socket.js';

/**
 * A client of QEMU's machine protocol (QMP) on a Unix socket: JSON objects, one per line. After
 * the greeting it negotiates capabilities; `execute` sends one command and resolves with its
 * `return` (QEMU docs, "QEMU Machine Protocol Specification"). Events are ignored.
 */
export class Qmp {
  private buffer = '';
  private readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private greeted!: () => void;
  private notGreeted!: (error: Error) => void;
  private readonly greeting = new Promise<void>((resolve, reject) => {
    this.greeted = resolve;
    this.notGreeted = reject;
  });

  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this.receive(d));
    const fail = () => {
      this.closed = true;
      this.notGreeted(new Error('the QMP connection closed before QEMU greeted'));
      for (const p of this.pending.splice(0)) p.reject(new Error('the QMP connection closed'));
    };
    socket.on('close', fail);
    socket.on('error', fail);
  }

  /**
   * Connect to QEMU's QMP socket at `path` (retrying until QEMU made it, within `timeoutMs`).
   * @throws SeedforkError when it cannot
   */
  static connect(path: string, timeoutMs: number): Promise<Qmp> {
    return connectWhenReady(path, timeoutMs, "QEMU's QMP socket", async (socket) => {
      const qmp = new Qmp(socket);
      try {
        await qmp.greeting;
        await qmp.execute('qmp_capabilities');
      } catch (error) {
        qmp.close();
        throw error;
      }
      return qmp;
    });
  }

  /**
   * Run one QMP command.
   * @throws Error with QEMU's description when the command fails, or when the connection is
   *   closed (QEMU exited) or closes before the answer
   */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // a command written to a closed connection would wait for an answer forever
      if (this.closed || this.socket.destroyed) return reject(new Error('the QMP connection closed'));
      this.pending.push({ resolve, reject });
      this.socket.write(
        `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(data: string): void {
    this.buffer += data;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      const message = JSON.parse(line) as {
        QMP?: unknown;
        return?: unknown;
        error?: { desc: string };
        event?: string;
      };
      if (message.QMP) this.greeted();
      else if (message.event) continue;
      else if ('return' in message) this.pending.shift()?.resolve(message.return);
      else if (message.error) this.pending.shift()?.reject(new Error(`QEMU: ${message.error.desc}`));
    }
  }
}
