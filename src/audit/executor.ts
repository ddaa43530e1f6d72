import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type { Adapter } from '../adapters/index.js';
import type { LoadedConfig } from '../config/load.js';
import { type PostgresServiceConfig, serviceKind } from '../config/schema.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { byPath } from '../plan/partition.js';
import type { FileResult } from '../report/types.js';
import { type Lease, openEnvironment, type TestEnvironment } from '../run/environment.js';
import { runPool } from '../run/pool.js';
import { type FileWorkers, fileOptionsFor, type RunFileOptions, runFile } from '../run/run-file.js';
import { Slots } from '../run/slots.js';
import type { BackendName } from '../sandbox/index.js';
import type { SeedEvent } from '../seed/seed.js';
import { findPostgresBin } from '../seed/services/postgres.js';
import {
  collectLeftovers,
  type Leftovers,
  postgresTableReader,
  type TableReader,
  takeBaseline,
} from './leftovers.js';

/** One step of a sequence: a test file, or only some of its test cases. */
export interface Step {
  file: string;
  /** Full names of the test cases to run; all when absent. */
  tests?: string[];
}

/**
 * Runs test files the ways an audit needs, seeding once: each file alone in a fresh sandbox
 * (isolated), several files one after another in one sandbox (a sequence: the same
 * environment, a chosen order), or all of them on the shared host (`--isolation none`).
 */
export class AuditExecutor {
  private sandboxes: TestEnvironment | undefined;
  /** Options for the next runFile call; each call gets its own report index. */
  private readonly nextFileOptions: () => RunFileOptions;
  /** The runner's own workers, for runs in sandboxes (see {@link useWorkers}). */
  private workers: FileWorkers | undefined;
  /** Number of sandboxes forked so far. */
  forks = 0;
  /** Whether the shared runs' copy of the project was made (once per audit). */
  private copied = false;
  /** One per worker: every sandboxed file run and sequence holds one while it runs. */
  private readonly slots: Slots;

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly adapter: Adapter,
    private readonly options: {
      baseEnv: Record<string, string>;
      signal?: AbortSignal;
      onSeedEvent?: (e: SeedEvent) => void;
      ignore: string[];
      /** Sandboxes at once, all runs together (the audit's workers). */
      workers: number;
    },
  ) {
    this.slots = new Slots(options.workers, options.signal);
    this.nextFileOptions = fileOptionsFor(loaded, options.signal ? { signal: options.signal } : {});
  }

  /** The backend of the sandboxed runs: config `isolation`, or namespace where that is `none`. */
  get isolation(): BackendName {
    const configured = this.loaded.config.isolation;
    return configured === 'none' ? 'namespace' : configured;
  }

  private async environment(): Promise<TestEnvironment> {
    if (!this.sandboxes) {
      const stateDir = resolve(this.loaded.root, this.loaded.config.stateDir);
      this.sandboxes = await openEnvironment(this.isolation, stateDir, {
        loaded: this.loaded,
        baseEnv: this.options.baseEnv,
        onSeedEvent: this.options.onSeedEvent,
        signal: this.options.signal,
      });
    }
    return this.sandboxes;
  }

  /**
   * Run files in sandboxes through the runner's own workers (forked into each sandbox) rather
   * than its CLI, where `start` gives them; closed with the executor.
   * @param start given seedfork's state directory
   */
  async useWorkers(start: (stateDir: string) => Promise<FileWorkers | undefined>): Promise<void> {
    this.workers = await start(resolve(this.loaded.root, this.loaded.config.stateDir));
  }

  /** The options of a runFile in a sandbox: the next ones, with the workers. */
  private sandboxedFileOptions(): RunFileOptions {
    return { ...this.nextFileOptions(), ...(this.workers ? { workers: this.workers } : {}) };
  }

  /** Seed (or reuse the snapshot) now, so the first run's timing does not include it. */
  async prepare(): Promise<void> {
    await this.environment();
  }

  /** A fresh sandbox, its commands told which audit run they belong to (`SEEDFORK_AUDIT_RUN`). */
  private async lease(run: string): Promise<Lease> {
    const lease = await (await this.environment()).acquire(this.options.signal);
    this.forks++;
    return { ...lease, env: { ...lease.env, SEEDFORK_AUDIT_RUN: run } };
  }

  /**
   * Tell the warm pool how many sandboxes the runs about to start will take, so that it forks
   * them ahead of need.
   */
  async expectSandboxes(count: number): Promise<void> {
    (await this.environment()).expect?.(count, this.slots.size);
  }

  /**
   * Each file alone in a fresh sandbox, in `order`, as the workers' slots free up (shared with
   * every other sandboxed run of the audit under way); with `emptyDirs`, those directories (the
   * tool caches) emptied in each sandbox first (the host's stay as they are). With `leftovers`,
   * also what each file left in its sandbox and the addresses it bound (its footprint; these
   * runs use the runner's CLI, not its workers, so that every process of the file is traced).
   */
  async isolated(
    run: string,
    order: string[],
    withLeftovers = false,
    emptyDirs: string[] = [],
  ): Promise<{ results: FileResult[]; leftovers: Leftovers[] }> {
    const leftovers: Leftovers[] = [];
    // every file queues for a slot at once, in order: the slots bound how many run
    const results = await runPool(
      order,
      order.length,
      (file) =>
        this.slots.use(async () => {
          const lease = await this.lease(run);
          try {
            const sandbox = lease.sandbox;
            if (emptyDirs.length > 0) await emptyInSandbox(lease, emptyDirs);
            const tables = withLeftovers ? this.tableReader(lease) : undefined;
            const baseline = withLeftovers ? await takeBaseline(sandbox, tables) : undefined;
            let binds: string[] | undefined;
            // the footprint's run goes through the runner's CLI, whose binds the sandbox traces
            const result = await runFile(
              lease,
              this.adapter,
              file,
              withLeftovers
                ? {
                    ...this.nextFileOptions(),
                    onBinds: (lines) => {
                      binds = lines;
                    },
                  }
                : this.sandboxedFileOptions(),
            );
            if (baseline) {
              leftovers.push(
                await collectLeftovers(file, sandbox, baseline, {
                  ignore: this.options.ignore,
                  tables,
                  ...(binds ? { binds } : {}),
                }),
              );
            }
            return result;
          } finally {
            await lease.release(false);
          }
        }),
      this.options.signal,
    );
    return { results, leftovers: leftovers.sort((a, b) => byPath(a.file, b.file)) };
  }

  /**
   * The steps one after another in one fresh sandbox (the same environment, this order), once
   * a worker's slot is free.
   */
  sequence(run: string, steps: Step[]): Promise<FileResult[]> {
    return this.slots.use(async () => {
      const lease = await this.lease(run);
      const results: FileResult[] = [];
      try {
        for (const step of steps) {
          if (this.options.signal?.aborted) break;
          results.push(
            await runFile(lease, this.adapter, step.file, {
              ...this.sandboxedFileOptions(),
              ...(step.tests ? { testNames: step.tests } : {}),
            }),
          );
        }
      } finally {
        await lease.release(false);
      }
      return results;
    });
  }

  /** The copy of the project the shared-host runs run in (kept after them, to look into). */
  get sharedProject(): string {
    return join(resolve(this.loaded.root, this.loaded.config.stateDir), 'shared-project');
  }

  /**
   * Every file on the shared host (`--isolation none`), `workers` at a time, taking `order`
   * in turn; services are seeded afresh on the host for the run and stopped after it. It runs
   * in a copy of the project ({@link sharedProject}; node_modules linked, not copied), made
   * afresh by the audit's first shared run, so that what the files write there neither changes
   * the user's tree nor shows through in the sandboxes of later runs.
   */
  async shared(run: string, order: string[], workers: number): Promise<FileResult[]> {
    const stateDir = resolve(this.loaded.root, this.loaded.config.stateDir);
    const loaded = { ...this.loaded, root: this.sharedProject };
    // one copy for all the shared runs of an audit: they share the host, as the real project would
    if (!this.copied) copyProject(this.loaded.root, loaded.root, stateDir);
    this.copied = true;
    const fileOptions = fileOptionsFor(loaded, this.options.signal ? { signal: this.options.signal } : {});
    const env = await openEnvironment('none', stateDir, {
      loaded,
      baseEnv: this.options.baseEnv,
      signal: this.options.signal,
    });
    try {
      return await runPool(
        order,
        workers,
        async (file) => {
          const lease = await env.acquire(this.options.signal);
          return runFile(
            { ...lease, env: { ...lease.env, SEEDFORK_AUDIT_RUN: run } },
            this.adapter,
            file,
            fileOptions(),
          );
        },
        this.options.signal,
      );
    } finally {
      await env.close();
    }
  }

  private tableReader(lease: Lease): TableReader | undefined {
    const services = Object.entries(this.loaded.config.seed.services)
      .filter(([, c]) => serviceKind(c) === 'postgres')
      .map(([name, c]) => ({
        name,
        psql: join(findPostgresBin(c as PostgresServiceConfig), 'psql'),
        url: lease.serviceUrls[name] ?? '',
      }))
      .filter((s) => s.url);
    return services.length > 0 ? postgresTableReader(lease.sandbox, services, lease.env) : undefined;
  }

  /** Kill every sandbox still alive. Never throws. */
  async close(): Promise<void> {
    await this.workers?.close();
    await this.sandboxes?.close();
  }
}

/**
 * Copy the project at `root` to `to` (emptied first), leaving out `.git` and the state directory
 * (which holds `to`), each node_modules linked rather than copied; symbolic links are copied as
 * links, file modes kept.
 */
function copyProject(root: string, to: string, stateDir: string): void {
  rmSync(to, { recursive: true, force: true });
  const copyDir = (from: string, into: string) => {
    mkdirSync(into, { recursive: true, mode: statSync(from).mode });
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const source = join(from, entry.name);
      const target = join(into, entry.name);
      if (source === stateDir || (from === root && entry.name === '.git')) continue;
      if (entry.name === 'node_modules' || entry.isSymbolicLink()) {
        symlinkSync(entry.isSymbolicLink() ? readlinkSync(source) : source, target);
      } else if (entry.isDirectory()) {
        copyDir(source, target);
      } else if (entry.isFile()) {
        copyFileSync(source, target);
        chmodSync(target, statSync(source).mode);
      }
    }
  };
  copyDir(root, to);
}

/**
 * Empty `dirs` inside the lease's sandbox (copy-on-write: the host's directories stay whole).
 * @throws SeedforkError when they cannot be emptied
 */
async function emptyInSandbox(lease: Lease, dirs: string[]): Promise<void> {
  const r = await lease.sandbox.exec(
    ['sh', '-c', 'for d in "$@"; do rm -rf -- "$d" && mkdir -p -- "$d" || exit 1; done', 'sh', ...dirs],
    { env: lease.env, timeoutMs: 60_000 },
  );
  if (r.exitCode !== 0)
    throw new SeedforkError(`cannot empty the tool caches in a sandbox (exit ${r.exitCode})`, {
      details: r.output,
    });
}
