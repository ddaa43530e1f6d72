import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { ParsedReport } from '../../adapters/index.js';
import {
  JEST_FORCE_EXIT_MS,
  JEST_FORCE_EXIT_WARNING,
  type JestAssertion,
  jestAdapter,
  jestCacheDir,
  jestReport,
} from '../../adapters/jest.js';
import type { Lease } from '../../run/environment.js';
import type { FileWorkersContext } from '../../run/run.js';
import {
  type FileWorkers,
  forcedExit,
  killProcessTree,
  limitReached,
  type RunFileOptions,
  timedOut,
  WORKER_OUTPUT_CHARS,
  type WorkerOutcome,
} from '../../run/run-file.js';
import type { RunningTemplate } from '../../sandbox/index.js';
import { PreparedWorkers } from '../prepared-workers.js';
import { freshWorkersAsked, startWorkerZygote } from '../worker-zygote.js';
import { talkToWorker } from './worker-client.js';

/** The resource names a worker reported open, kept to words fit for a warning (it runs test code). */
function openResources(open: unknown): string[] {
  if (!Array.isArray(open)) return [];
  return open
    .filter((name): name is string => typeof name === 'string')
    .slice(0, 20)
    .map((name) => name.replace(/[^\w .-]/g, '').slice(0, 60));
}

/** The worker zygote (zygote.cts, compiled beside this file). */
const ZYGOTE = fileURLToPath(new URL('./zygote.cjs', import.meta.url));

/** What `seedfork run` reads of a Jest worker's TestResult (@jest/test-result). */
interface JestTestResult {
  testResults?: JestAssertion[];
  failureMessage?: string | null;
  testExecError?: { message?: string; stack?: string } | null;
  numFailingTests?: number;
  console?: { type?: string; message?: string }[] | null;
}

/**
 * The Jest runner's workers for `seedfork run` with runner `jest`: a worker zygote (zygote.cts)
 * reads the project's Jest config and module map once on the host, loads Jest, warms up and is
 * forked into each file's sandbox, instead of a whole `jest` CLI starting per file (about 0.7 s
 * of CPU each). The CLI still runs what a worker cannot: runs filtered to some test cases
 * (`testNames`), and every file once the zygote has died (a config Jest cannot read as one
 * project, say: the CLI then reports the problem per file). Undefined when the zygote cannot
 * run here, or with SEEDFORK_ZYGOTE=0.
 */
export async function jestFileWorkers(context: FileWorkersContext): Promise<FileWorkers | undefined> {
  if (context.adapter.name !== 'jest') return undefined;
  const { root } = context.loaded;
  const probe = { root, reportDir: '/' };
  const read = {
    rootDir: root,
    // as the adapter's CLI command: --ci, the warm transform cache, -u when asked
    argv: {
      ci: true,
      cacheDirectory: jestCacheDir(root),
      maxWorkers: context.workers,
      ...(context.updateSnapshots ? { updateSnapshot: true } : {}),
    },
    warmUpDir: join(context.stateDir, 'jest-warm-up'),
  };
  const env = { ...context.baseEnv, ...jestAdapter.env?.(probe, context.baseEnv) };
  // With a core to spare beyond the workers, the module map is built here while the zygote
  // loads Jest. Without one the thread only adds work: it loads jest-config and jest-haste-map a
  // second time, in an isolate of its own, while the warm pool forks a sandbox per worker. On 2
  // CPUs with 2 workers (bench/runners.ts's Jest suite, 8 runs each) a run took 4.8 s of CPU
  // without it against 5.2 s with it, and 3.1 s of wall time against 3.2-3.3 s.
  const spareCore = availableParallelism() > context.workers;
  const thread = !freshWorkersAsked() && spareCore ? moduleMapThread(read, env) : undefined;
  const zygote = await startWorkerZygote([process.execPath, ZYGOTE], {
    cwd: root,
    // native ES modules need the flag in the zygote: forks keep the flags they were started with
    env,
    input: thread
      ? [`${JSON.stringify({ read, moduleMap: 'next' })}\n`, thread.line]
      : JSON.stringify({ read }),
  });
  if (!zygote) await thread?.stop();
  return zygote && new JestFileWorkers(zygote, root, context.workers, context.notify, thread);
}

/** The worker thread that builds the module map (module-map-thread.cts, beside this file). */
const MODULE_MAP_THREAD = fileURLToPath(new URL('./module-map-thread.cjs', import.meta.url));

/**
 * Build the project's module map in a worker thread (module-map-thread.cts), for the zygote.
 * `line` resolves with the zygote's second line, or rejects when the thread failed (the zygote
 * then builds the map itself, and says why the config cannot be read if that is the cause);
 * `stop` ends the thread if it still runs.
 */
function moduleMapThread(
  read: { rootDir: string; argv: Record<string, unknown> },
  env: Record<string, string>,
): { line: Promise<string>; stop(): Promise<void> } {
  // the config runs with the environment the zygote's has (test.env may be read by it)
  const worker = new Worker(MODULE_MAP_THREAD, { workerData: read, env, stdout: true, stderr: true });
  const line = new Promise<string>((done, fail) => {
    worker.once('message', (message: { line?: string; error?: string }) =>
      message.line ? done(message.line) : fail(new Error(message.error)),
    );
    worker.once('error', fail);
    worker.once('exit', () => fail(new Error('the module map thread exited')));
  });
  line.then(
    () => worker.terminate(),
    () => worker.terminate(),
  );
  return {
    line,
    stop: async () => {
      await worker.terminate();
    },
  };
}

class JestFileWorkers implements FileWorkers {
  private handedOut = 0;
  private readonly prepared = new PreparedWorkers();
  private saidFallback = false;

  constructor(
    private readonly zygote: RunningTemplate,
    private readonly root: string,
    private readonly workers: number,
    private readonly notify: (message: string) => void,
    private readonly thread?: { stop(): Promise<void> },
  ) {}

  async run(lease: Lease, file: string, options: RunFileOptions): Promise<WorkerOutcome | undefined> {
    if (options.testNames || !lease.sandbox.spawnFrom || this.zygote.unusable) {
      this.prepared.take(lease, 'none'); // the CLI runs the file: no worker waits in its sandbox
      return this.fallback();
    }
    const attempt = String(options.attempt ?? 1);
    const startedAt = Date.now();
    const taken = this.prepared.take(lease, attempt);
    const child =
      taken?.child ?? lease.sandbox.spawnFrom(this.zygote, { cwd: this.root, env: this.env(lease, attempt) });
    let output = '';
    const keep = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-WORKER_OUTPUT_CHARS);
      options.onOutput?.(text);
    };
    if (taken?.early) keep(Buffer.from(taken.early));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<number>((done) =>
      child.exitCode !== null ? done(child.exitCode) : child.once('exit', (code) => done(code ?? 1)),
    );
    const talk = await talkToWorker(
      child,
      // drain: the result names what the file left open, so that it is reported as Jest's
      // force-exit warning (the worker then exits at once)
      { path: join(this.root, file), workerId: (this.handedOut++ % this.workers) + 1, drain: true },
      { timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
    );
    const durationMs = Date.now() - startedAt;
    // A worker that has not exited when jest-worker would force-exit it is ended the same way,
    // and its file keeps its verdict, with Jest's warning. Plain Jest reuses the worker for its
    // next file, so what a file leaves open costs it nothing: a worker that finds its file left
    // something open says what, and exits at once.
    const open = openResources(talk.outcome?.open);
    const graceMs = Math.min(JEST_FORCE_EXIT_MS, options.exitGraceMs);
    const code = await Promise.race([
      exited,
      new Promise<undefined>((done) => {
        setTimeout(() => done(undefined), graceMs).unref();
      }),
    ]);
    let forced: string | undefined =
      open.length > 0
        ? `${JEST_FORCE_EXIT_WARNING}\nLeft open by the file: ${open.join(', ')}; seedfork ended its worker after its last result, as the runner would; its verdict stands.`
        : undefined;
    if (code === undefined) {
      const pid = talk.outcome?.pid;
      let tree = '(the process tree could not be read)';
      if (pid !== undefined) {
        const pidFile = `${lease.junitDir}/${options.index}.worker.pid`;
        await lease.sandbox.writeFile(pidFile, String(pid)).catch(() => {});
        tree = await killProcessTree(lease, pidFile);
      }
      child.kill('SIGKILL');
      forced = forcedExit(JEST_FORCE_EXIT_WARNING, graceMs, tree);
    }
    const exitCode = code ?? (await exited);
    if (!talk.outcome && this.zygote.unusable) return this.fallback(); // died with the zygote
    const result = talk.outcome?.result as JestTestResult | undefined;
    if (!result) {
      const { limit, died } = await lease.sandbox.incidents();
      const why = talk.timedOut
        ? timedOut(options.timeoutMs)
        : options.signal?.aborted
          ? 'cancelled'
          : (talk.broken ??
            died ??
            (limit
              ? limitReached(limit)
              : (talk.outcome?.error?.message ??
                `the Jest worker exited with code ${exitCode} and no result`)));
      return {
        report: { tests: [] },
        exitCode: exitCode || 1,
        output,
        unfinished: why,
        startedAt,
        durationMs,
      };
    }
    const failed = (result.numFailingTests ?? 0) > 0 || !!result.testExecError;
    // what the tests logged: Jest's worker buffers it into the result, and its CLI prints it
    // under the file; streamed with the file's output as the file ends (`seedfork run -v`)
    const logged = (result.console ?? [])
      .map((entry) => `console.${entry.type ?? 'log'}\n  ${entry.message ?? ''}\n`)
      .join('');
    if (logged) options.onOutput?.(logged);
    const printed = [logged.trimEnd(), stripVTControlCharacters(result.failureMessage ?? '')]
      .filter((text) => text.trim() !== '')
      .join('\n');
    return {
      report: this.report(result),
      exitCode: failed ? 1 : 0,
      output: (output + printed).slice(-WORKER_OUTPUT_CHARS),
      startedAt,
      durationMs,
      ...(forced ? { warnings: [forced] } : {}),
    };
  }

  /** Fork a worker into the lease's sandbox ahead of its file (first attempts' environment). */
  prepare(lease: Lease): void {
    if (!lease.sandbox.spawnFrom || this.zygote.unusable) return;
    try {
      this.prepared.add(
        lease,
        '1',
        lease.sandbox.spawnFrom(this.zygote, { cwd: this.root, env: this.env(lease, '1') }),
      );
    } catch {
      // the zygote just died: `run` says why, or the CLI runs the file
    }
  }

  /** A worker's environment: the lease's, Jest's own variables, the attempt. */
  private env(lease: Lease, attempt: string): Record<string, string> {
    return {
      ...lease.env,
      ...jestAdapter.env?.({ root: this.root, reportDir: '/' }, lease.env),
      SEEDFORK_ATTEMPT: attempt,
    };
  }

  /** The test cases of a worker's TestResult, as the CLI's JSON would give them. */
  private report(result: JestTestResult): ParsedReport {
    return jestReport([
      {
        assertionResults: result.testResults ?? [],
        message: result.failureMessage ?? result.testExecError?.message ?? '',
      },
    ]);
  }

  /** The CLI runs this file; the first time the zygote is the reason, the user is told why. */
  private fallback(): undefined {
    const why = this.zygote.unusable;
    if (why && !this.saidFallback) {
      this.saidFallback = true;
      this.notify(`${why}; running the files with Jest's CLI instead`);
    }
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.thread?.stop(), this.zygote.close()]);
  }
}
