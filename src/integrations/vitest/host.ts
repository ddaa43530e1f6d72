import type { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

/** What seedfork reads of a Vitest 4 project's resolved config (vitest/node `ResolvedConfig`). */
export interface VitestProjectConfig {
  root: string;
  pool: string;
  poolRunner?: unknown;
  isolate: boolean;
  maxWorkers: number;
  globalSetup: string[];
  browser?: { enabled?: boolean };
  typecheck?: { enabled?: boolean };
  coverage?: { enabled?: boolean };
}

/** A task (test, suite or file) as Vitest's state keeps it (`Task` in @vitest/runner). */
export interface VitestTask {
  type: string;
  mode?: string;
  tasks?: VitestTask[];
  result?: { state?: string; errors?: { name?: string; message: string }[] };
}

/** A test file's task as Vitest's state keeps it (`File` in @vitest/runner). */
export interface VitestFileTask extends VitestTask {
  filepath: string;
  projectName?: string;
}

/** What seedfork uses of a Vitest project (vitest/node `TestProject`). */
export interface VitestProject {
  name: string;
  config: VitestProjectConfig;
}

/** What seedfork uses of a test specification (vitest/node `TestSpecification`). */
export interface VitestSpecification {
  project: VitestProject;
  moduleId: string;
  pool: string;
}

/**
 * What seedfork uses of a Vitest 4 instance (vitest/node `Vitest`, https://vitest.dev/api/advanced/vitest).
 * `pool` is the process pool Vitest creates on its first run; it runs specifications without
 * Vitest's run bookkeeping (reporters' run start and end, coverage), so that several single-file
 * runs can go at once.
 */
export interface VitestInstance {
  config: VitestProjectConfig;
  projects: VitestProject[];
  pool?: { runTests(specs: VitestSpecification[], invalidates: string[]): Promise<void> };
  state: {
    clearFiles(project: VitestProject, paths: string[]): void;
    getFiles(keys?: string[]): VitestFileTask[];
    getReportedEntity(task: VitestFileTask): unknown;
  };
  /** Every test file of the config, as Vitest's `include` finds them. */
  globTestSpecifications(): Promise<VitestSpecification[]>;
  runTestSpecifications(specs: VitestSpecification[]): Promise<unknown>;
  close(): Promise<void>;
}

/** Vitest's JUnit reporter (vitest/reporters `JUnitReporter`), driven by hand for one file. */
export interface VitestJUnitReporter {
  onInit(vitest: VitestInstance): Promise<void>;
  onTestRunEnd(testModules: unknown[]): Promise<void>;
}

/** A Vitest instance hosted in this process, and the reporter that writes its files' JUnit XML. */
export interface VitestHost {
  vitest: VitestInstance;
  junitReporter: (outputFile: string) => VitestJUnitReporter;
}

/** The pools whose files run the same in a forks worker in a sandbox. */
const FORKS_LIKE = new Set(['forks', 'threads', 'seedfork']);

/**
 * Why a Vitest config cannot be hosted by seedfork (its files run through workers forked into
 * sandboxes by a Vitest in seedfork's process), or undefined when it can: everything Vitest's
 * main process would do for the tests must be the same on the host as in a sandbox's CLI.
 */
export function hostingRuledOut(vitest: Pick<VitestInstance, 'projects'>): string | undefined {
  if (vitest.projects.length !== 1) return 'the config has several projects';
  const config = vitest.projects[0]!.config;
  if (config.globalSetup.length > 0) {
    return "the config has a globalSetup, which runs in Vitest's main process and must run in the sandbox";
  }
  if (config.browser?.enabled) return 'browser mode is on';
  if (config.typecheck?.enabled) return 'typecheck is on';
  if (config.coverage?.enabled) return 'coverage is on';
  if (!FORKS_LIKE.has(config.pool)) return `the config's pool is '${config.pool}'`;
  return undefined;
}

/** The version of package `name` that the module at `path` belongs to (its nearest
 * package.json of that name), or undefined when none is found. */
function packageVersion(path: string, name: string): string | undefined {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name: found, version } = JSON.parse(readFileSync(manifest, 'utf8')) as {
      name?: string;
      version?: string;
    };
    if (found === name) return version;
  }
  return undefined;
}

/** Process events whose listeners belong to seedfork, not to the Vitest it hosts. */
const PROCESS_EVENTS = ['SIGINT', 'SIGTERM', 'exit', 'unhandledRejection', 'uncaughtException'];
/** The process as the plain emitter it is, for listeners of any of its events. */
const processEvents: EventEmitter = process;

/** Output of the hosted Vitest's own logger (config warnings, "JUNIT report written"): dropped. */
const silent = () => new Writable({ write: (_chunk, _encoding, done) => done() });

/**
 * Start Vitest 4 (the project's own, from its node_modules) in this process with the project's
 * config, in run mode, its files to run through `pool` (Vitest 4's PoolRunnerInitializer, whose
 * workers seedfork forks into sandboxes). No reporter: seedfork reads each file's results.
 * @param options.update rewrite stored snapshots (`vitest -u`)
 * @returns the host, or why this project cannot be hosted (no Vitest 4 installed, a config that
 *   does not load, or one of {@link hostingRuledOut}'s reasons)
 */
export async function startVitestHost(
  root: string,
  pool: { name: string },
  options: { update: boolean },
): Promise<VitestHost | { unavailable: string }> {
  let api: {
    createVitest(
      mode: 'test',
      options: Record<string, unknown>,
      viteOverrides: Record<string, unknown>,
      vitestOptions: { stdout: Writable; stderr: Writable },
    ): Promise<unknown>;
    version: string;
    JUnitReporter?: new (options: { outputFile: string }) => VitestJUnitReporter;
  };
  let JUnitReporter: new (options: { outputFile: string }) => VitestJUnitReporter;
  try {
    const entry = createRequire(join(root, 'package.json')).resolve('vitest/node');
    const version = packageVersion(entry, 'vitest');
    // the Node API and pool interface seedfork uses are those of Vitest 4, unchanged in 5
    const major = Number(version?.split('.')[0]);
    if (major !== 4 && major !== 5) return { unavailable: `Vitest ${version} is not Vitest 4 or 5` };
    api = await import(pathToFileURL(entry).href);
    // vitest/node has the reporters from 4.1 on (vitest/reporters is deprecated there)
    JUnitReporter =
      api.JUnitReporter ??
      (await import(pathToFileURL(createRequire(entry).resolve('vitest/reporters')).href)).JUnitReporter;
  } catch (error) {
    return { unavailable: `Vitest's Node API could not be loaded from ${root}: ${(error as Error).message}` };
  }
  let vitest: VitestInstance;
  const listening = PROCESS_EVENTS.map((event) => new Set(processEvents.listeners(event)));
  try {
    vitest = (await api.createVitest(
      'test',
      { root, watch: false, reporters: [{}], update: options.update, passWithNoTests: true },
      {},
      { stdout: silent(), stderr: silent() },
    )) as VitestInstance;
  } catch (error) {
    return { unavailable: `Vitest could not read its config: ${(error as Error).message}` };
  } finally {
    // Vitest's logger exits the process on SIGINT and SIGTERM (after restoring the terminal's
    // cursor): seedfork has its own handlers, which remove the sandboxes first
    PROCESS_EVENTS.forEach((event, i) => {
      for (const listener of processEvents.listeners(event)) {
        if (!listening[i]!.has(listener)) processEvents.off(event, listener as () => void);
      }
    });
  }
  const ruledOut = hostingRuledOut(vitest);
  if (ruledOut) {
    await vitest.close().catch(() => {});
    return { unavailable: ruledOut };
  }
  // seedfork runs one file per sandbox, as many at once as it has workers: Vitest's own pool
  // runs each file as soon as it is handed over, in a worker of `pool`
  for (const config of new Set([vitest.config, vitest.projects[0]!.config])) {
    Object.assign(config, { pool: pool.name, poolRunner: pool, isolate: true, maxWorkers: 1024 });
  }
  // Vitest creates its process pool on its first run: an empty one
  await vitest.runTestSpecifications([]);
  if (!vitest.pool) {
    await vitest.close().catch(() => {});
    return { unavailable: 'this Vitest 4 has no process pool to run files through' };
  }
  return {
    vitest,
    junitReporter: (outputFile) => new JUnitReporter({ outputFile }),
  };
}
