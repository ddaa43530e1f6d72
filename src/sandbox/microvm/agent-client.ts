import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { connectWhenReady } from './unix-socket.js';

/** A command's end, as the guest agent reports it. */
export interface AgentExit {
  /** Exit code, or 128 + the signal that killed it. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link AgentClient.exec}. */
export interface AgentExecOptions {
  /** Run as this user of the guest's /etc/passwd (default root). */
  user?: string;
  /** Working directory in the guest (default `/`). */
  cwd?: string;
  /** Variables added to the agent's base environment (PATH, HOME). */
  env?: Record<string, string>;
  /** Each chunk of stdout and stderr as it comes. */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Run on a pseudo-terminal (its output comes as stdout), fed by {@link AgentJob.input}. */
  terminal?: boolean;
}

/** A command started with {@link AgentClient.start}. */
export interface AgentJob {
  /** The agent's id of the job (its process group is the job's). */
  readonly id: number;
  /** Settles when the command ended and its output was read. */
  readonly done: Promise<AgentExit>;
  /** Send `signal` (a number) to the job's process group. */
  kill(signal: number): void;
  /** Type `data` into a terminal job. */
  input(data: Buffer): void;
  /** Set a terminal job's window size. */
  resize(rows: number, columns: number): void;
}

interface Job {
  stdout: Buffer[];
  stderr: Buffer[];
  onOutput?: AgentExecOptions['onOutput'];
  resolve: (exit: AgentExit) => void;
  reject: (error: Error) => void;
}

/**
 * The host's side of the guest agent's protocol (native/guest-agent.c) over the virtio-serial
 * port QEMU exposes as a Unix socket: frames of [u32 length][u8 type][u32 job][payload], little
 * endian. Several commands may run at once.
 */
export class AgentClient {
  private buffer: Buffer = Buffer.alloc(0);
  private nextJob: number;
  private readonly jobs = new Map<number, Job>();
  /**
   * Requests the agent answers 'A' (done) or 'F' (refused, with the reason): reseeds and probes.
   * Each settles with the agent's answer; it is rejected only when the connection ends.
   */
  private readonly acks = new Map<
    number,
    { settle: (refusal?: string, data?: Buffer) => void; reject: (e: Error) => void }
  >();
  /** Output of jobs this connection did not start (a service started before the snapshot). */
  private readonly adopted = new Map<number, (chunk: Buffer) => void>();
  private closedWith: Error | undefined;
  private readyWaiter: { resolve: (bootId: string) => void; reject: (e: Error) => void } | undefined;
  /** This boot's `/proc/sys/kernel/random/boot_id`, once the agent said it is ready. */
  bootId: string | undefined;

  private constructor(
    private readonly socket: Socket,
    firstJob: number,
  ) {
    this.nextJob = firstJob;
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('the guest agent connection closed')));
  }

  /**
   * Connect to the agent's socket, retrying until QEMU has created it, within `timeoutMs`.
   * @throws SeedforkError when it cannot connect in time
   */
  static connect(path: string, timeoutMs: number, firstJob = 1): Promise<AgentClient> {
    return connectWhenReady(
      path,
      timeoutMs,
      'the guest agent',
      (socket) => new AgentClient(socket, firstJob),
    );
  }

  /** The id the next request will get: a restored guest's client starts above its snapshot's. */
  get nextJobId(): number {
    return this.nextJob;
  }

  /** Send the output of job `id`, started by an earlier connection (before a snapshot), to `sink`. */
  adopt(id: number, sink: (chunk: Buffer) => void): void {
    this.adopted.set(id, sink);
  }

  /**
   * Wait for the agent's ready frame (sent once after boot).
   * @returns the guest's boot id
   * @throws SeedforkError when it does not come within `timeoutMs` or the connection ends
   */
  ready(timeoutMs: number): Promise<string> {
    if (this.bootId !== undefined) return Promise.resolve(this.bootId);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SeedforkError(`the guest agent did not report ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.readyWaiter = {
        resolve: (id) => {
          clearTimeout(timer);
          resolve(id);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /**
   * Run `argv` in the guest to completion.
   * @throws Error when the agent refuses the request (the reason) or the connection ends
   */
  exec(argv: string[], options: AgentExecOptions = {}): Promise<AgentExit> {
    return this.start(argv, options).done;
  }

  /**
   * Start `argv` in the guest, in a process group of its own.
   * @returns the job; its `done` rejects when the agent refuses it or the connection ends
   */
  start(argv: string[], options: AgentExecOptions = {}): AgentJob {
    const id = this.nextJob++;
    const strings = [
      options.user ?? '',
      options.cwd ?? '/',
      ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
      '',
      ...argv,
    ];
    const payload = Buffer.concat(strings.map((s) => Buffer.from(`${s}\0`)));
    const done = new Promise<AgentExit>((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      this.jobs.set(id, { stdout: [], stderr: [], onOutput: options.onOutput, resolve, reject });
      this.send(options.terminal ? 'Y' : 'X', id, payload);
    });
    const send = (type: string, data: Buffer) => {
      if (!this.closedWith) this.send(type, id, data);
    };
    return {
      id,
      done,
      kill: (signal) => send('K', Buffer.from([signal])),
      input: (data) => send('J', data),
      resize: (rows, columns) => {
        const size = Buffer.alloc(4);
        size.writeUInt16LE(rows, 0);
        size.writeUInt16LE(columns, 2);
        send('B', size);
      },
    };
  }

  /** Send `signal` to the process group of job `id` (one this connection did not start, too). */
  kill(id: number, signal: number): void {
    if (!this.closedWith) this.send('K', id, Buffer.from([signal]));
  }

  /**
   * A regular file's contents (at most 16 MiB), read by the agent itself.
   * @returns undefined when there is none, it is not a regular file or cannot be read
   * @throws Error when the connection ends
   */
  async readFile(path: string): Promise<Buffer | undefined> {
    const { refusal, data } = await this.requestData('G', Buffer.from(path));
    return refusal === undefined ? (data ?? Buffer.alloc(0)) : undefined;
  }

  /**
   * Names in directory `path`, or undefined when it cannot be listed.
   * @throws Error when the connection ends
   */
  async listDir(path: string): Promise<string[] | undefined> {
    const { refusal, data } = await this.requestData('L', Buffer.from(path));
    if (refusal !== undefined) return undefined;
    return (data ?? Buffer.alloc(0)).toString().split('\0').slice(0, -1);
  }

  /** Whether anything is at `path` (not following a final symbolic link). */
  async exists(path: string): Promise<boolean> {
    return (await this.request('T', Buffer.from(path))) === undefined;
  }

  /**
   * Write `data` to `path` (replacing the file) with permission bits `mode`.
   * @throws Error with the agent's reason when it cannot, or when `data` is over 15 MiB
   */
  async writeFile(path: string, data: Buffer, mode: number): Promise<void> {
    if (data.length > 15 * 1024 ** 2)
      throw new Error(`cannot write ${path} in the guest: larger than 15 MiB`);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(mode);
    await this.expectDone('W', Buffer.concat([head, Buffer.from(`${path}\0`), data]));
  }

  /**
   * Create directory `path` and its missing parents (0755); `mode` and `owner` apply to the last.
   * @throws Error with the agent's reason when it cannot
   */
  async makeDir(path: string, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
    const head = Buffer.alloc(12);
    head.writeUInt32LE(mode, 0);
    head.writeInt32LE(owner?.uid ?? -1, 4);
    head.writeInt32LE(owner?.gid ?? -1, 8);
    await this.expectDone('M', Buffer.concat([head, Buffer.from(path)]));
  }

  /**
   * Show the ext4 disk `device` at `path`: read-only below, a tmpfs above, so writes stay in the
   * guest (see native/guest-agent.c, and diskMountDirs).
   * @throws Error with the agent's reason when a step fails
   */
  async mountDisk(device: string, path: string): Promise<void> {
    await this.expectDone('V', Buffer.from(`${device}\0${path}`));
  }

  /**
   * Undo {@link mountDisk} (lazily where a process still holds a file there).
   * @throws Error with the agent's reason when it cannot
   */
  async unmountDisk(device: string, path: string): Promise<void> {
    await this.expectDone('U', Buffer.from(`${device}\0${path}`));
  }

  private async expectDone(type: string, payload: Buffer): Promise<void> {
    const refusal = await this.request(type, payload);
    if (refusal !== undefined) throw new Error(`the guest agent: ${refusal}`);
  }

  /**
   * Set the guest's clock to the host's and mix fresh host randomness into its random pool, so
   * that guests restored from one snapshot neither share random state nor keep the snapshot's
   * time (Brooker et al., "Restoring Uniqueness in MicroVM Snapshots", 2021).
   * @throws Error when the agent cannot (the reason)
   */
  async reseed(): Promise<void> {
    const payload = Buffer.alloc(8 + 64);
    payload.writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n, 0);
    randomBytes(64).copy(payload, 8);
    const refusal = await this.request('S', payload);
    if (refusal !== undefined) throw new Error(`the guest agent: ${refusal}`);
  }

  /**
   * Whether something in the guest accepts TCP connections on 127.0.0.1:`port` (the agent
   * connects itself; no process is started).
   * @throws Error when the connection to the agent ends
   */
  async probePort(port: number): Promise<boolean> {
    const payload = Buffer.alloc(2);
    payload.writeUInt16LE(port);
    return (await this.request('P', payload)) === undefined;
  }

  /** Send a request the agent acknowledges; resolves with its refusal's reason, or undefined when done. */
  private async request(type: string, payload: Buffer): Promise<string | undefined> {
    return (await this.requestData(type, payload)).refusal;
  }

  /** Send a request the agent answers with data ('D'), done ('A') or a refusal ('F'). */
  private requestData(type: string, payload: Buffer): Promise<{ refusal?: string; data?: Buffer }> {
    const id = this.nextJob++;
    return new Promise((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      this.acks.set(id, { settle: (refusal, data) => resolve({ refusal, data }), reject });
      this.send(type, id, payload);
    });
  }

  /** Close the connection; running commands fail. */
  close(): void {
    this.socket.destroy();
  }

  private send(type: string, job: number, payload: Buffer): void {
    const header = Buffer.alloc(9);
    header.writeUInt32LE(payload.length + 5, 0);
    header.write(type, 4, 'latin1');
    header.writeUInt32LE(job, 5);
    this.socket.write(Buffer.concat([header, payload]));
  }

  private receive(data: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32LE(0);
      if (this.buffer.length < 4 + length) return;
      const type = String.fromCharCode(this.buffer[4]!);
      const job = this.buffer.readUInt32LE(5);
      const payload = this.buffer.subarray(9, 4 + length);
      this.buffer = this.buffer.subarray(4 + length);
      this.frame(type, job, payload);
    }
  }

  private frame(type: string, id: number, payload: Buffer): void {
    if (type === 'R') {
      this.bootId = payload.toString();
      this.readyWaiter?.resolve(this.bootId);
      return;
    }
    const ack = this.acks.get(id);
    if (ack && (type === 'A' || type === 'F' || type === 'D')) {
      this.acks.delete(id);
      if (type === 'F') ack.settle(payload.toString());
      else ack.settle(undefined, type === 'D' ? Buffer.from(payload) : undefined);
      return;
    }
    const job = this.jobs.get(id);
    if (!job) {
      if (type === 'O' || type === 'E') this.adopted.get(id)?.(Buffer.from(payload));
      else if (type === 'Z') this.adopted.delete(id);
      return;
    }
    if (type === 'O' || type === 'E') {
      (type === 'O' ? job.stdout : job.stderr).push(Buffer.from(payload));
      job.onOutput?.(payload.toString(), type === 'O' ? 'stdout' : 'stderr');
    } else if (type === 'Z') {
      this.jobs.delete(id);
      job.resolve({
        exitCode: payload.readInt32LE(0),
        stdout: Buffer.concat(job.stdout).toString(),
        stderr: Buffer.concat(job.stderr).toString(),
      });
    } else if (type === 'F') {
      this.jobs.delete(id);
      job.reject(new Error(`the guest agent: ${payload.toString()}`));
    }
  }

  private fail(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.readyWaiter?.reject(error);
    for (const job of this.jobs.values()) job.reject(error);
    for (const ack of this.acks.values()) ack.reject(error);
    this.jobs.clear();
    this.acks.clear();
  }
}
