import type { Lease } from '../../run/environment.js';
import { type RunFileOptions, WORKER_OUTPUT_CHARS } from '../../run/run-file.js';
import type { RunningTemplate, SpawnedProcess } from '../../sandbox/index.js';
import type { PreparedWorkers } from '../prepared-workers.js';
import { ChannelPoolWorker } from './channel-worker.js';
import type { VitestTask } from './host.js';
import { startVitestWorker, type VitestWorkerSpec, workerKey } from './worker-process.js';

/** A console call in a test, as Vitest's worker reports it (`UserConsoleLog` in vitest). */
interface ConsoleLog {
  content?: string;
  type?: string;
}

/** An error Vitest's worker reports outside any test (`onUnhandledError`). */
interface ReportedError {
  name?: string;
  message?: string;
  stack?: string;
}

/** One file's run: its sandbox and what its worker said, beside Vitest's own state. */
export class FileRun {
  output = '';
  readonly logs: ConsoleLog[] = [];
  readonly unhandled: string[] = [];
  child: SpawnedProcess | undefined;
  /** Why the run was cut short by seedfork (a timeout, a cancel), once it was. */
  stopped: string | undefined;
  /** Whether Vitest's pool created this run's worker. */
  isClaimed = false;
  /** Settles when Vitest's pool creates this run's worker. */
  readonly claimed: Promise<void>;
  private markClaimed: () => void = () => {};

  constructor(
    readonly lease: Lease,
    readonly path: string,
    readonly options: RunFileOptions,
  ) {
    this.claimed = new Promise((done) => {
      this.markClaimed = done;
    });
  }

  /** Vitest's pool created this run's worker. */
  claim(): void {
    this.isClaimed = true;
    this.markClaimed();
  }

  keep(text: string): void {
    this.output = (this.output + text).slice(-WORKER_OUTPUT_CHARS);
    this.options.onOutput?.(text);
  }

  /** End the run now: its worker is killed, and Vitest's pool hears of the exit. */
  stop(why: string): void {
    this.stopped ??= why;
    this.child?.kill('SIGKILL');
  }
}

/**
 * Vitest's `PoolWorker` for one {@link FileRun}: Vitest's forks worker forked into the run's
 * sandbox (or started afresh there). Console calls and unhandled errors are noted for the run
 * on their way to Vitest.
 */
export class FileRunWorker extends ChannelPoolWorker {
  constructor(
    private readonly run: FileRun,
    private readonly spec: VitestWorkerSpec,
    private readonly zygote: Promise<RunningTemplate | undefined>,
    private readonly prepared: PreparedWorkers,
  ) {
    super();
  }

  /** Take the worker prepared in the run's sandbox, or fork one now. */
  async start(): Promise<void> {
    const { run } = this;
    const attempt = run.options.attempt ?? 1;
    const taken = this.prepared.take(run.lease, preparedKey(this.spec, attempt));
    const child = taken?.child ?? startVitestWorker(run.lease, this.spec, await this.zygote, attempt);
    if (taken?.early) run.keep(taken.early);
    run.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => run.keep(text));
    }
    for (const stream of child.stdio) stream?.on('error', () => {});
    this.attach(child);
    if (run.stopped) child.kill('SIGKILL');
  }

  override send(message: unknown): void {
    const request = message as { type?: string; context?: { files?: { filepath?: string }[] } };
    if (request.type === 'run' && request.context?.files?.[0]?.filepath !== this.run.path) {
      // never run another file in this sandbox
      this.events.emit(
        'error',
        new Error(`seedfork: a Vitest worker for ${this.run.path} was handed another file`),
      );
      return;
    }
    super.send(message);
  }

  protected override received(message: unknown): void {
    const event = message as { t?: string; m?: string; a?: unknown[]; type?: string };
    // birpc's requests (https://github.com/antfu-collective/birpc): { t: 'q', m: method, a: args }
    if (event.t === 'q' && event.m === 'onUserConsoleLog') this.run.logs.push(event.a?.[0] as ConsoleLog);
    if (event.t === 'q' && event.m === 'onUnhandledError') {
      const [error, type] = (event.a ?? []) as [ReportedError | undefined, string | undefined];
      this.run.unhandled.push(
        `${type ?? 'Unhandled Error'}: ${error?.stack ?? error?.message ?? String(error)}`,
      );
    }
    super.received(message);
  }

  async stop(): Promise<void> {
    const child = await this.detach();
    // the sandbox may be kept for `seedfork shell`: the worker must not stay in it
    if (child && child.exitCode === null) child.kill('SIGKILL');
  }
}

/** What a prepared worker was started with: Vitest's options for it and the attempt. */
export function preparedKey(spec: VitestWorkerSpec, attempt: number): string {
  return `${attempt} ${workerKey(spec)}`;
}

/** Leave out the tests of `task` that were to run and never ended (the file's run was cut
 * short): Vitest has no result for them, which its JUnit reporter would write as a pass. The
 * file is an error, as it is when the CLI is killed before it writes its report. */
export function dropUnfinished(task: VitestTask): void {
  if (!task.tasks) return;
  task.tasks = task.tasks.filter(
    (child) =>
      child.type === 'suite' ||
      !(child.mode === 'run' || child.mode === 'queued') ||
      FINAL_STATES.has(child.result?.state ?? ''),
  );
  for (const child of task.tasks) dropUnfinished(child);
}

/** The states of a test that ended (`TaskState` in @vitest/runner). */
const FINAL_STATES = new Set(['pass', 'fail', 'skip', 'todo']);

export function messageOf(error: unknown): string {
  const cause = (error as { cause?: unknown; errors?: unknown[] }).errors?.[0] ?? error;
  const inner = (cause as { cause?: unknown }).cause ?? cause;
  return (inner as Error).message ?? String(inner);
}
