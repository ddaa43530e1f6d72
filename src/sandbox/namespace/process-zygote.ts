import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { Duplex, PassThrough, type Writable } from 'node:stream';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { nativePart } from '../native-parts.js';
import type { ProcessTemplate, SpawnedProcess } from '../types.js';

/** Why processes cannot be forked from a template here (the process zygote's addon,
 * native/zygote.c, is missing or built for another machine), or undefined when they can. */
export function processZygoteUnavailable(): string | undefined {
  try {
    nativePart('seedfork-zygote.node', 'the process zygote');
    return undefined;
  } catch (error) {
    return error instanceof SeedforkError ? `${error.message} (${error.hint})` : String(error);
  }
}

/** Write `parts` to `stream` in order as each resolves, then end it; a part that rejects, or
 * a stream ended meanwhile (the zygote closed), ends the writing. */
async function writeInOrder(stream: Writable, parts: (string | Promise<string>)[]): Promise<void> {
  for (const part of parts) {
    let text: string;
    try {
      text = await part;
    } catch {
      break;
    }
    if (stream.writableEnded) return;
    stream.write(text);
  }
  if (!stream.writableEnded) stream.end();
}

/** Characters of the zygote's own output kept for the error that says why it ended. */
const TAIL_CHARS = 4000;

/** The roles a forked process's three connections announce, as its fds 1, 2 and 3. */
const ROLES = ['stdout', 'stderr', 'channel'] as const;
type Role = (typeof ROLES)[number];

/**
 * A Node program started once on the host and forked into sandboxes on request: a process
 * zygote (native/zygote.c has the how and why). The program does its slow start-up (a
 * runner's modules) once, then calls the addon's `serve`; each {@link fork} gives a process
 * inside a sandbox that goes on from there, as `seedfork-ns exec` would have started it, in a
 * few ms instead of the start-up's hundreds.
 *
 * Plumbing: the program gets `input` on fd 4 (read it to EOF before serving) and requests on
 * fd 3; a forked process reaches this object through an abstract Unix socket in the host's
 * network namespace (its three connections carry a random token of 128 bits, so no other
 * process on the host can take its place), which becomes its stdout, stderr and fd 3.
 */
export class ProcessZygote implements ProcessTemplate {
  private readonly forked = new Map<string, ForkedProcess>();
  private readonly byToken = new Map<string, ForkedProcess>();
  private nextId = 0;
  private tail = '';
  private ended: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly server: Server,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.tail = (this.tail + chunk).slice(-TAIL_CHARS);
      });
    }
    for (const stream of child.stdio) stream?.on('error', () => {});
    const lines = createInterface({ input: child.stdio[3] as Duplex });
    lines.on('line', (line) => this.reply(line));
    lines.on('error', () => {}); // a reset when the zygote dies: its exit says why
    this.exited = new Promise((done) => {
      child.on('exit', (code, signal) => {
        this.ended = `the worker zygote ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
        const why = new Error(`${this.ended}${this.tail ? `:\n${this.tail}` : ''}`);
        for (const forked of this.forked.values()) forked.lost(why);
        this.forked.clear();
        this.server.close();
        done();
      });
      child.on('error', (error) => {
        // no 'exit' follows a failed start: nothing to wait for, and nobody will connect
        this.ended = `the worker zygote could not be started: ${error.message}`;
        for (const forked of this.forked.values()) forked.lost(new Error(this.ended));
        this.forked.clear();
        this.server.close();
        done();
      });
    });
  }

  /**
   * Start `argv` (a Node program that serves forks: see src/integrations/forked-worker.cts) on
   * the host with `--single-threaded` for V8 (forks have only the forking thread).
   * @param argv the program: [node, ...options, script, ...args]
   * @param options.input written to the program's fd 4, then closed (its setup): a string, or
   *   parts written in order as each is ready (a part that rejects ends the input there), so
   *   that the program can start on the first while the caller works out the rest
   * @throws Error when the socket cannot be listened on
   */
  static async start(
    argv: string[],
    options: { cwd: string; env: Record<string, string>; input: string | (string | Promise<string>)[] },
  ): Promise<ProcessZygote> {
    const address = `seedfork-zygote-${process.pid}-${randomBytes(8).toString('hex')}`;
    const server = createServer();
    // A Unix socket server binds and listens within listen() (the event follows on the next
    // tick), and the program connects only when it forks: it is spawned now, not after the
    // event, which waited on whatever the caller did next (the Jest runner's import of the rest
    // of seedfork and its config: the zygote started 60-100 ms later)
    const listening = new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(`\0${address}`, () => done());
    });
    const [node, ...rest] = argv;
    const child = spawn(node!, ['--single-threaded', ...rest], {
      cwd: options.cwd,
      env: {
        ...options.env,
        SEEDFORK_ZYGOTE_ADDRESS: address,
        SEEDFORK_ZYGOTE_ADDON: nativePart('seedfork-zygote.node', 'the process zygote'),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    const zygote = new ProcessZygote(child, server);
    server.on('connection', (socket) => zygote.accept(socket));
    void writeInOrder(
      child.stdio[4] as Writable,
      typeof options.input === 'string' ? [options.input] : options.input,
    );
    try {
      await listening;
    } catch (error) {
      await zygote.close();
      throw error;
    }
    return zygote;
  }

  /** Why the zygote can fork no more (with the end of its output), or undefined while it can. */
  get unusable(): string | undefined {
    return this.ended && `${this.ended}${this.tail.trim() ? `:\n${this.tail.trim()}` : ''}`;
  }

  fork(execOptions: string[]): SpawnedProcess {
    if (this.ended) throw new Error(this.unusable);
    if (execOptions.some((option) => option.includes('\0')))
      throw new Error('an exec option holds a NUL byte');
    const id = String(++this.nextId);
    const token = randomBytes(16).toString('hex');
    const forked = new ForkedProcess();
    this.forked.set(id, forked);
    this.byToken.set(token, forked);
    forked.once('exit', () => this.byToken.delete(token));
    (this.child.stdio[3] as Writable).write(`${id}\0${token}\0${execOptions.join('\0')}\0\0`);
    return forked;
  }

  /** Stop the zygote: forks still running die with it (their helpers watch it). Never throws. */
  async close(): Promise<void> {
    if (!this.ended) {
      (this.child.stdio[4] as Writable).end(); // a program still waiting for its setup gets none
      (this.child.stdio[3] as Writable).end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  private reply(line: string): void {
    const [id, what, value] = line.split(' ');
    const forked = this.forked.get(id ?? '');
    if (!forked) return;
    if (what === 'pid') forked.started(Number(value));
    if (what === 'exit') {
      this.forked.delete(id!);
      forked.exited(Number(value));
    }
  }

  /** A forked process's connection: "<token> <role>\n", then its stream. */
  private accept(socket: Socket): void {
    let header = '';
    socket.on('error', () => {});
    const onData = (chunk: Buffer) => {
      header += chunk.toString('latin1');
      const end = header.indexOf('\n');
      if (end < 0) {
        if (header.length > 200) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const [token, role] = header.slice(0, end).split(' ');
      const rest = Buffer.from(header.slice(end + 1), 'latin1');
      if (rest.length) socket.unshift(rest);
      const forked = this.byToken.get(token ?? '');
      if (!forked || !ROLES.includes(role as Role) || !forked.attach(role as Role, socket)) socket.destroy();
    };
    socket.on('data', onData);
  }
}

/**
 * A process forked from a {@link ProcessZygote}, shaped as the ChildProcess that `spawn` gives:
 * `pid` (its helper's host pid, which signals reach as `seedfork-ns exec`'s do), stdout and
 * stderr, fd 3 as `stdio[3]`, `exit` with the exit code (128+N when killed by signal N).
 */
class ForkedProcess extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  readonly signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private readonly channel = new LateSocket();
  readonly stdio: [null, PassThrough, PassThrough, Duplex] = [null, this.stdout, this.stderr, this.channel];
  private readonly attached = new Set<Role>();
  private pendingSignal: NodeJS.Signals | number | undefined;

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exitCode !== null) return false;
    if (this.pid === undefined) {
      this.pendingSignal = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  started(pid: number): void {
    this.pid = pid;
    if (this.pendingSignal !== undefined) this.kill(this.pendingSignal);
  }

  /** Take one of its three connections; false when that role is taken already. */
  attach(role: Role, socket: Socket): boolean {
    if (this.attached.has(role) || this.exitCode !== null) return false;
    this.attached.add(role);
    if (role === 'channel') this.channel.attach(socket);
    else {
      socket.pipe(role === 'stdout' ? this.stdout : this.stderr);
      socket.resume();
    }
    return true;
  }

  exited(code: number): void {
    this.exitCode = code;
    // streams it never connected end now; connected ones end with their sockets
    if (!this.attached.has('stdout')) this.stdout.end();
    if (!this.attached.has('stderr')) this.stderr.end();
    if (!this.attached.has('channel')) this.channel.destroy();
    this.emit('exit', code, null);
  }

  /** The zygote died: this process died with it (its helper watches the zygote). */
  lost(why: Error): void {
    if (this.exitCode !== null) return;
    // as a ChildProcess's, but never thrown for want of a listener: its exit says enough
    if (this.listenerCount('error') > 0) this.emit('error', why);
    this.exited(125);
  }
}

/** A duplex stream over a socket that connects later: writes before then are held. */
class LateSocket extends Duplex {
  private socket: Socket | undefined;
  private held: { chunk: Buffer; done: (error?: Error | null) => void }[] = [];
  private finishing: ((error?: Error | null) => void) | undefined;

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    for (const { chunk, done } of this.held) socket.write(chunk, done);
    this.held = [];
    if (this.finishing) socket.end(this.finishing);
    socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.socket) this.socket.write(chunk, done);
    else this.held.push({ chunk, done });
  }

  override _read(): void {
    this.socket?.resume();
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.socket) this.socket.end(done);
    else this.finishing = done;
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.socket?.destroy();
    for (const { done: written } of this.held) written(new Error('the process exited'));
    this.held = [];
    done(error);
  }
}
