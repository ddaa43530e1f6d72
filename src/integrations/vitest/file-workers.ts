import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParsedReport } from '../../adapters/index.js';
import { parseJUnit } from '../../adapters/report-formats.js';
import type { Lease } from '../../run/environment.js';
import type { FileWorkersContext } from '../../run/run.js';
import {
  type FileWorkers,
  limitReached,
  type RunFileOptions,
  timedOut,
  WORKER_OUTPUT_CHARS,
  type WorkerOutcome,
} from '../../run/run-file.js';
import type { RunningTemplate } from '../../sandbox/index.js';
import { PreparedWorkers } from '../prepared-workers.js';
import { freshWorkersAsked } from '../worker-zygote.js';
import { dropUnfinished, FileRun, FileRunWorker, messageOf, preparedKey } from './file-run.js';
import { startVitestHost, type VitestHost, type VitestSpecification } from './host.js';
import { startVitestWorker, startVitestZygote, type VitestWorkerSpec, workerKey } from './worker-process.js';

/** What seedfork reads of the options Vitest 4's pool creates a worker with (`PoolOptions`). */
interface PoolOptions {
  distPath: string;
  env: Partial<NodeJS.ProcessEnv>;
  execArgv: string[];
}

/**
 * Vitest's files for `seedfork run` with runner `vitest`: Vitest runs in seedfork's own process
 * (its Node API, with the project's config) and hands each file to its forks worker forked into
 * the file's sandbox from a worker zygote, instead of a whole `vitest` CLI starting per file
 * (about 0.75 s of CPU each). The CLI still runs what a hosted Vitest cannot: runs filtered to
 * some test cases (`testNames`), a second run of a file while one is under way, files Vitest's
 * config does not include, and every file when the config cannot be hosted (see
 * hostingRuledOut: a globalSetup, several projects, browser mode, coverage) or Vitest 4 cannot
 * be loaded; the first file's output says why. Undefined for other runners, and with
 * SEEDFORK_ZYGOTE=0.
 */
export async function vitestFileWorkers(context: FileWorkersContext): Promise<FileWorkers | undefined> {
  if (context.adapter.name !== 'vitest' || freshWorkersAsked()) return undefined;
  return new VitestFileWorkers(context);
}

class VitestFileWorkers implements FileWorkers {
  private readonly root: string;
  private readonly host: Promise<VitestHost | { unavailable: string }>;
  private readonly specs: Promise<Map<string, VitestSpecification>>;
  private readonly zygotes = new Map<string, Promise<RunningTemplate | undefined>>();
  /** The workers forked ahead into ready sandboxes (see {@link prepare}). */
  private readonly prepared = new PreparedWorkers();
  /** How Vitest started the latest worker, and its zygote once that is running: what
   * {@link prepare} forks ahead. */
  private latest: { spec: VitestWorkerSpec; zygote: RunningTemplate } | undefined;
  private readonly busy = new Set<string>();
  /** The runs under way, which `close` ends. */
  private readonly running = new Map<FileRun, Promise<WorkerOutcome>>();
  /** Where Vitest's JUnit reporter writes each file's report (on the host), removed at close. */
  private readonly reportDir: string;
  /** The run whose task Vitest's pool is about to create a worker for. */
  private pending: FileRun | undefined;
  /** Hand-overs to Vitest's pool, one at a time (see {@link dispatch}). */
  private handOver: Promise<unknown> = Promise.resolve();
  private reports = 0;
  private saidFallback = false;

  constructor(private readonly context: FileWorkersContext) {
    this.root = context.loaded.root;
    this.reportDir = mkdtempSync(join(tmpdir(), 'seedfork-vitest-junit-'));
    const runner = {
      name: 'seedfork',
      createPoolWorker: (options: PoolOptions) => this.createWorker(options),
    };
    this.host = startVitestHost(this.root, runner, { update: context.updateSnapshots });
    this.specs = this.host.then(async (host) => {
      if ('unavailable' in host) return new Map();
      const specs = await host.vitest.globTestSpecifications();
      return new Map(specs.map((spec) => [spec.moduleId, spec]));
    });
  }

  async run(lease: Lease, file: string, options: RunFileOptions): Promise<WorkerOutcome | undefined> {
    const host = await this.host;
    const path = join(this.root, file);
    const spec = (await this.specs).get(path);
    if ('unavailable' in host || options.testNames || !spec || this.busy.has(path)) {
      this.prepared.take(lease, 'none'); // the CLI runs the file: no worker waits in its sandbox
      return 'unavailable' in host ? this.fallback(host.unavailable) : undefined;
    }
    this.busy.add(path);
    const run = new FileRun(lease, path, options);
    const outcome = this.runSpec(host, spec, run);
    this.running.set(run, outcome);
    try {
      return await outcome;
    } finally {
      this.busy.delete(path);
      this.running.delete(run);
    }
  }

  private async runSpec(host: VitestHost, spec: VitestSpecification, run: FileRun): Promise<WorkerOutcome> {
    const { vitest } = host;
    const { options } = run;
    vitest.state.clearFiles(spec.project, [run.path]); // a retry starts from nothing
    const startedAt = Date.now();
    const timer = setTimeout(() => run.stop(timedOut(options.timeoutMs)), options.timeoutMs);
    const cancel = () => run.stop('cancelled');
    options.signal?.addEventListener('abort', cancel);
    let failure: unknown;
    try {
      await this.dispatch(run, () => vitest.pool!.runTests([spec], []));
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', cancel);
    }
    const durationMs = Date.now() - startedAt;
    const task = vitest.state.getFiles([run.path]).find((f) => f.projectName === spec.project.name);
    const exitCode = run.child?.exitCode ?? 0;
    let unfinished = run.stopped;
    if (!unfinished && failure !== undefined) {
      const { limit, died } = await run.lease.sandbox.incidents();
      unfinished = !run.isClaimed
        ? `the Vitest worker could not be started: ${messageOf(failure)}`
        : (died ??
          (limit
            ? limitReached(limit)
            : `the Vitest worker exited with code ${exitCode} before its file finished`));
    }
    if (task && unfinished) dropUnfinished(task);
    const report = task ? await this.junit(host, task) : { tests: [] };
    if (run.unhandled.length > 0) report.error = run.unhandled.map((e) => e.split('\n')[0]).join('\n');
    const failed =
      unfinished !== undefined ||
      run.unhandled.length > 0 ||
      task?.result?.state === 'fail' ||
      report.tests.some((test) => test.status === 'failed');
    return {
      report,
      exitCode: unfinished ? exitCode || 1 : failed ? 1 : 0,
      output: (run.output + this.printed(run, report)).slice(-WORKER_OUTPUT_CHARS),
      ...(unfinished ? { unfinished } : {}),
      startedAt,
      durationMs,
    };
  }

  /**
   * Hand `run` to Vitest's pool through `runTests`. The pool creates the worker for the one
   * task of each call, and the worker must know its sandbox then: hand-overs wait for each
   * other until the pool has asked for the previous one's worker (or the call ended without).
   */
  private dispatch(run: FileRun, runTests: () => Promise<void>): Promise<void> {
    const turn = this.handOver.then(async () => {
      this.pending = run;
      const ran = runTests();
      await Promise.race([run.claimed, ran.catch(() => {})]);
      if (this.pending === run) this.pending = undefined;
      return { ran };
    });
    this.handOver = turn.catch(() => {});
    return turn.then(({ ran }) => ran);
  }

  private createWorker(options: PoolOptions): FileRunWorker {
    const run = this.pending;
    if (!run) throw new Error('seedfork: Vitest asked for a worker for a file seedfork did not hand over');
    this.pending = undefined;
    run.claim();
    const spec = {
      distPath: options.distPath,
      execArgv: options.execArgv,
      env: options.env,
      root: this.root,
    };
    const zygote = this.zygoteFor(spec);
    void zygote.then((template) => {
      if (template) this.latest = { spec, zygote: template };
    });
    return new FileRunWorker(run, spec, zygote, this.prepared);
  }

  /**
   * Fork Vitest's worker into the lease's sandbox ahead of its file, as Vitest started the
   * latest one (from the second file on: the first tells how Vitest starts its workers).
   */
  prepare(lease: Lease): void {
    const latest = this.latest;
    if (!latest || latest.zygote.unusable || !lease.sandbox.spawnFrom) return;
    try {
      this.prepared.add(
        lease,
        preparedKey(latest.spec, 1),
        startVitestWorker(lease, latest.spec, latest.zygote, 1),
      );
    } catch {
      // the zygote just died: the file's own start says why
    }
  }

  /** The worker zygote for workers started with `spec` (one per Node options and environment). */
  private zygoteFor(spec: VitestWorkerSpec): Promise<RunningTemplate | undefined> {
    const key = workerKey(spec);
    let zygote = this.zygotes.get(key);
    if (!zygote) {
      zygote = startVitestZygote(spec, this.context.baseEnv, (reason) =>
        this.context.notify(`Vitest workers start afresh in each sandbox (slower): ${reason}`),
      );
      this.zygotes.set(key, zygote);
    }
    return zygote.then((template) => (template?.unusable ? undefined : template));
  }

  /** The file's results as Vitest's JUnit reporter writes them, which is what the CLI gives. */
  private async junit(
    host: VitestHost,
    task: Parameters<VitestHost['vitest']['state']['getReportedEntity']>[0],
  ) {
    const path = join(this.reportDir, `${++this.reports}.xml`);
    try {
      const reporter = host.junitReporter(path);
      await reporter.onInit(host.vitest);
      await reporter.onTestRunEnd([host.vitest.state.getReportedEntity(task)]);
      return parseJUnit(readFileSync(path, 'utf8')) as ParsedReport;
    } finally {
      rmSync(path, { force: true });
    }
  }

  /** What Vitest's reporter would print for the file: its console output and failures. */
  private printed(run: FileRun, report: ParsedReport): string {
    const file = run.path.slice(this.root.length + 1);
    return [
      ...run.logs.map((log) => `${log.type ?? 'stdout'} | ${file}\n${log.content ?? ''}`),
      ...report.tests
        .filter((test) => test.status === 'failed')
        .map((test) => `FAIL ${file} > ${test.name}\n${test.details ?? test.message ?? ''}`),
      ...run.unhandled,
    ]
      .filter((text) => text.trim() !== '')
      .join('\n');
  }

  /** The CLI runs this file; the first time, the user is told why. */
  private fallback(why: string): undefined {
    if (!this.saidFallback) {
      this.saidFallback = true;
      this.context.notify(
        `Vitest cannot be hosted for this project (${why}); running the files with Vitest's CLI instead`,
      );
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const run of this.running.keys()) run.stop('cancelled');
    await Promise.allSettled(this.running.values());
    const host = await this.host;
    if (!('unavailable' in host)) await host.vitest.close().catch(() => {});
    const zygotes = await Promise.all(this.zygotes.values());
    await Promise.all(zygotes.map((zygote) => zygote?.close()));
    rmSync(this.reportDir, { recursive: true, force: true });
  }
}
