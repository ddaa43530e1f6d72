import { resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { BackendName } from '../sandbox/index.js';
import { prepareSnapshot } from '../seed/seed.js';
import { contextOf } from './context.js';
import type { Sandbox } from './sandbox.js';
import { Snapshot } from './snapshot.js';

/** Which project's seed {@link seededSnapshot} and {@link withSandbox} fork. */
export interface SeededOptions {
  /** Where to look for `seedfork.config.*` (default: the current directory). */
  dir?: string;
  /** The config file, when not the one found in `dir`. */
  config?: string;
  /** Default: config `isolation` when it names a backend (`microvm`), else `namespace`. */
  backend?: BackendName;
  /** As SandboxOptions.memoryBudget. */
  memoryBudget?: number | string;
}

const seeded = new Map<string, Promise<Snapshot>>();

/**
 * The snapshot of the project's config seed (services, `seed.steps`), the same one
 * `seedfork run` forks: reused from the cache while `seed.inputs`, the steps and the services
 * are unchanged, else seeded now (once per process; concurrent processes seed it once).
 * @throws SeedforkError on a config error, a backend that cannot run here, or a failed step
 *   (its output in `details`); the same error for every later call in the process
 */
export function seededSnapshot(options: SeededOptions = {}): Promise<Snapshot> {
  const dir = resolve(options.dir ?? process.cwd());
  const id = JSON.stringify([dir, options.config, options.backend, options.memoryBudget]);
  let snapshot = seeded.get(id);
  if (!snapshot) {
    snapshot = (async () => {
      const loaded = await loadConfig(dir, options.config);
      const name = options.backend ?? (loaded.config.isolation === 'microvm' ? 'microvm' : 'namespace');
      const context = await contextOf(loaded, name, { memoryBudget: options.memoryBudget });
      const { snapshot: frozen } = await prepareSnapshot(context.backend, loaded, { env: context.baseEnv });
      return new Snapshot(context, frozen);
    })();
    seeded.set(id, snapshot);
  }
  return snapshot;
}

/** Whether a failed test's sandbox is kept for `seedfork shell` (SEEDFORK_KEEP_FAILED=1). */
export function keepFailed(): boolean {
  return process.env.SEEDFORK_KEEP_FAILED === '1';
}

/**
 * Keep `sandbox` for `seedfork shell` and say so on stderr, for a test that failed.
 * @returns the command that enters it
 */
export async function keepForInspection(sandbox: Sandbox, test = 'the failed test'): Promise<string> {
  const command = await sandbox.keep();
  process.stderr.write(`seedfork: kept the sandbox of ${test}: ${command}\n`);
  return command;
}

/**
 * Run `fn` with a sandbox of its own, forked from the project's seeded snapshot (its own
 * PostgreSQL on its port, its own ports, /tmp and processes), in any runner and in concurrent
 * tests: `test('x', () => withSandbox(async (sandbox) => { … }))`. The sandbox is killed when
 * `fn` settles, or kept when it throws and SEEDFORK_KEEP_FAILED=1 (the `seedfork shell`
 * command is printed).
 * @throws what `fn` throws; SeedforkError when the snapshot cannot be had or forked
 */
export async function withSandbox<T>(
  fn: (sandbox: Sandbox) => Promise<T>,
  options: SeededOptions & { snapshot?: Snapshot } = {},
): Promise<T> {
  const snapshot = options.snapshot ?? (await seededSnapshot(options));
  const sandbox = await snapshot.fork({ wait: true }); // concurrent tests take turns for memory
  try {
    return await fn(sandbox);
  } catch (error) {
    if (keepFailed()) await keepForInspection(sandbox).catch(() => {});
    throw error;
  } finally {
    await sandbox.kill(); // nothing to do once kept
  }
}
