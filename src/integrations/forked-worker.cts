// The program side of a process zygote (native/zygote.c; the host side is
// src/sandbox/namespace/process-zygote.ts). A runner's worker program does its slow start-up
// (the runner's modules), reads its setup with readSetup(), then calls forkIntoSandboxes(): that
// call returns once in every process forked into a sandbox, and in the zygote itself only when
// the runner closes it.
import { randomInt } from 'node:crypto';
import { closeSync, readFileSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

interface Addon {
  serve(controlFd: number, address: string): { id: string; cwd: string; pid: number } | null;
  exit(code: number): never;
}

/** What was read of fd 4 beyond the line {@link readSetupLine} returned. */
let unread = '';
/** Characters split between two reads of fd 4 wait here for their other bytes. */
const decoder = new StringDecoder('utf8');

/**
 * The first line the runner wrote to fd 4 (without its newline; all of it, if it wrote no
 * newline before closing fd 4): a setup sent in parts, so that the program can start on the
 * first part while the runner works out the rest. The rest is {@link readSetup}'s.
 */
export function readSetupLine(): string {
  const chunk = Buffer.alloc(64 * 1024);
  for (;;) {
    const end = unread.indexOf('\n');
    if (end >= 0) {
      const line = unread.slice(0, end);
      unread = unread.slice(end + 1);
      return line;
    }
    const n = readSync(4, chunk, 0, chunk.length, null);
    if (n === 0) {
      const line = unread + decoder.end();
      unread = '';
      return line;
    }
    unread += decoder.write(chunk.subarray(0, n));
  }
}

/** The setup the runner wrote to fd 4 (ProcessZygote.start's `input`), read to its end, less
 * what {@link readSetupLine} took. */
export function readSetup(): string {
  const text = unread + readFileSync(4, 'utf8');
  unread = '';
  closeSync(4);
  return text;
}

/**
 * Make the zygote's heap what every fork should start from: Node's lazily loaded globals
 * (fetch and undici, the Web streams: loaded by each fork otherwise, when a test environment
 * copies the globals) loaded, and a full garbage collection, so the forks do not each collect
 * the start-up's garbage (which also copies every page the collector touches). The collector is
 * reached without exposing `gc` as a global.
 */
export function settleHeap(): void {
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    try {
      void (globalThis as Record<string, unknown>)[name];
    } catch {
      // a getter that throws: nothing to load
    }
  }
  let gc = (globalThis as { gc?: () => void }).gc; // started with --expose-gc
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
    // back to the flags the process started with: V8 checks its code cache data against them
    // (data made before would be rejected in every fork; see jest/code-cache.cts)
    setFlagsFromString('--no-expose-gc');
  }
  gc();
}

/**
 * Serve forks until the runner closes the zygote. Returns null in the zygote then (exit), or,
 * in a process forked into a sandbox, where it is: its id and working directory. From there on
 * the process leaves through process.exit, never through Node's own teardown, which would wait
 * for threads a fork does not have; an uncaught exception is printed and exits with code 1, as
 * Node does. A program should call process.exit itself once its work is done: the end of the
 * event loop (where 'beforeExit' would exit) first waits for the tasks V8 gave its background
 * threads, and a fork whose collector posted one (a large heap) would wait there for ever.
 * @throws Error when the process was not started by a ProcessZygote (no SEEDFORK_ZYGOTE_ADDRESS or
 *   SEEDFORK_ZYGOTE_ADDON)
 */
export function forkIntoSandboxes(): { id: string; cwd: string } | null {
  const address = process.env.SEEDFORK_ZYGOTE_ADDRESS;
  const addonPath = process.env.SEEDFORK_ZYGOTE_ADDON; // the host found it for this machine
  if (!address || !addonPath)
    throw new Error(
      'seedfork: not started as a worker zygote (SEEDFORK_ZYGOTE_ADDRESS or SEEDFORK_ZYGOTE_ADDON is unset)',
    );
  const addon = require(addonPath) as Addon;
  const forked = addon.serve(3, address);
  if (!forked) return null;
  // process.exit() ends with process.reallyExit(code), after the 'exit' listeners ran
  (process as unknown as { reallyExit(code?: number): never }).reallyExit = (code?: number) =>
    addon.exit(code ?? 0);
  process.on('beforeExit', (code) => process.exit(code));
  process.on('uncaughtException', (error) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
  // what Node took at start-up: the pid (a value, not a getter) and the working directory the
  // helper entered (Node may hold the zygote's in a cache)
  Object.defineProperty(process, 'pid', { value: forked.pid, enumerable: true, configurable: true });
  // Every fork starts with the zygote's random state (Brooker et al. 2021, "Restoring Uniqueness
  // in MicroVM Snapshots"). V8 seeds each new context's Math.random from the isolate's generator,
  // the same in every fork, unless --random-seed is set: set it from OpenSSL's generator, which
  // reseeds itself in a child process (it checks the pid). The test files' contexts are new.
  setFlagsFromString(`--random-seed=${randomInt(1, 2 ** 31 - 1)}`);
  process.chdir(forked.cwd);
  return { id: forked.id, cwd: forked.cwd };
}
