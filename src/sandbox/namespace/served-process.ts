import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { alive } from '../../locks/process-alive.js';
import type { SpawnedProcess } from '../types.js';
import type { Zygote } from './zygote.js';

/** How often a process whose helper died is checked for its end, in ms. */
const ORPHAN_POLL_MS = 100;

/**
 * A long-running command in a sandbox (a service writing to its log) started by the namespace
 * helper (`seedfork-ns serve`'s exec request, see {@link Zygote}) instead of by
 * `child_process.spawn`. The helper forks a process of a few hundred KB, where spawn forks
 * seedfork's Node process, whose page tables grow with its heap, and blocks its event loop until
 * the child has called exec (about 15 ms a start on a PVM guest, where every page costs).
 *
 * It behaves as the ChildProcess of `seedfork-ns exec` that spawn gave: `pid` is that process's
 * (it passes SIGINT, SIGTERM and SIGHUP on to the command's process group and dies by SIGKILL),
 * `exit` gives its exit code (128+N when the command died of signal N) or, when it was killed by
 * SIGKILL, the signal; `error` comes when the helper could not start it. There are no pipes: its
 * output goes to the file named in the request.
 */
export class ServedProcess extends EventEmitter implements SpawnedProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdin = null;
  readonly stdout = null;
  readonly stderr = null;
  readonly stdio = [null, null, null] as const;
  /** A signal asked for before the helper said which pid to send it to. */
  private early: NodeJS.Signals | number | undefined;
  private killedHard = false;
  private done = false;

  /**
   * @param fields the exec request after its id: `exec`, the output (`>>PATH` appends), the
   *   options of `seedfork-ns exec`, `--`, the command
   */
  constructor(zygote: Zygote, fields: string[]) {
    super();
    zygote
      .request(fields, (reply) => {
        switch (reply.kind) {
          case 'pid':
            this.pid = reply.pid;
            if (this.early !== undefined) this.kill(this.early);
            return false;
          case 'exit':
            this.finish(reply.code);
            return true;
          case 'error':
            this.fail(new SeedforkError(`cannot start ${fields.at(-1) ?? 'the command'}: ${reply.message}`));
            return true;
          case 'lost':
            this.orphaned();
            return true;
          default:
            return false;
        }
      })
      .catch((error: Error) => this.fail(error));
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.done) return false;
    if (this.pid === undefined) {
      this.early = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
    } catch {
      return false; // gone already: its exit is on the way
    }
    if (signal === 'SIGKILL' || signal === constants.signals.SIGKILL) this.killedHard = true;
    return true;
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    // the helper itself killed by SIGKILL (the serve process saw 128 + 9), as spawn reports it
    if (this.killedHard && code === 128 + constants.signals.SIGKILL) this.signalCode = 'SIGKILL';
    else this.exitCode = code;
    this.emit('exit', this.exitCode, this.signalCode);
    this.emit('close', this.exitCode, this.signalCode);
  }

  private fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.emit('error', error);
  }

  /**
   * The helper that forked it died (a crash, or seedfork stopped it): nothing will report this
   * process's exit. It is watched until gone (its command ends with its sandbox, when that is
   * killed or seedfork exits); its exit then reads as the helper's would after its command died
   * of SIGKILL, how sandboxes end (code 137). The watch does not keep Node alive.
   */
  private orphaned(): void {
    const pid = this.pid;
    if (pid === undefined) {
      this.fail(new SeedforkError('the namespace helper exited before the command started'));
      return;
    }
    const timer = setInterval(() => {
      if (alive(pid)) return;
      clearInterval(timer);
      this.finish(128 + constants.signals.SIGKILL);
    }, ORPHAN_POLL_MS);
    timer.unref();
  }
}
