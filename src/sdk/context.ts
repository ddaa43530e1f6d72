import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { parseConfig } from '../config/load.js';
import type { Config, UserConfig } from '../config/schema.js';
import { parseSize } from '../config/size.js';
import { baseEnvironment, microvmOptions, sandboxLimits } from '../run/environment.js';
import { type Backend, type BackendName, backendFor } from '../sandbox/index.js';
import type { ResourceLimits } from '../sandbox/types.js';

/** Options of `Sandbox.create`, `Snapshot.open` and `Snapshot.cached` (the SDK). */
export interface SandboxOptions {
  /** `namespace` (default: Linux namespaces, milliseconds a fork) or `microvm` (a guest kernel
   * per sandbox, QEMU). */
  backend?: BackendName;
  /** Services started in the base sandbox and in every fork, as config `seed.services` takes
   * them: `{ postgres: { port: 5432, database: 'app' } }`. A PostgreSQL service's `pool: N`
   * has snapshot() clone N test databases ahead into the snapshot, for testDatabase() in the
   * forks (the config's default, `auto`, does not apply here: none unless named). */
  services?: NonNullable<UserConfig['seed']>['services'];
  /** Per sandbox, as config `limits`: `{ memory: '1GiB', pids: 512, disk: '2GiB', output }`. */
  limits?: UserConfig['limits'];
  /** The project directory: every sandbox sees it (copy-on-write) and runs commands there.
   * Default: the current directory. */
  dir?: string;
  /** Where snapshots and sandboxes live. Default: `<dir>/.seedfork`. */
  stateDir?: string;
  /** Variables added to every command's environment (the host's pass through the filter of
   * config `sandbox.env`: secret-looking names withheld). */
  env?: Record<string, string>;
  /** `host` gives the base sandbox the host's network (for `npm ci`); forks never have it. */
  network?: 'isolated' | 'host';
  /** System calls the sandbox's filter would refuse that these commands need. */
  allowSyscalls?: string[];
  /** The guests of the microvm backend, as config `microvm`. */
  microvm?: UserConfig['microvm'];
  /**
   * Memory that forks of this process may hold at once, bytes or a size (`16GiB`): each live
   * sandbox reserves its memory limit (`limits.memory`, or the guest's memory), and a fork
   * beyond it is refused. Default: the host's memory less 1 GiB.
   */
  memoryBudget?: number | string;
}

/** What the SDK's sandboxes and snapshots of one set of options share. */
export interface SdkContext {
  backend: Backend;
  loaded: LoadedConfig;
  /** Environment of every command before services add theirs. */
  baseEnv: Record<string, string>;
  limits: ResourceLimits;
  /** What one sandbox reserves of the memory budget, in bytes. */
  reserveBytes: number;
  budgetBytes: number;
  /**
   * Services whose options name a `pool`: snapshot() clones their test databases ahead into
   * the snapshot. Left out by default (unlike the config's seed): a base sandbox may still
   * hold connections to the database, which CREATE DATABASE … TEMPLATE refuses.
   */
  precloned: string[];
}

const backends = new Map<string, Backend>();

/**
 * Validate the options (as a config: errors name the key) and open the backend, one per
 * backend, state directory and project in this process.
 * @throws SeedforkError on an invalid option, or a backend that cannot run here (its preflight)
 */
export async function sdkContext(options: SandboxOptions): Promise<SdkContext> {
  const dir = resolve(options.dir ?? process.cwd());
  const config: Config = parseConfig(
    {
      seed: { services: options.services ?? {}, network: options.network ?? 'isolated' },
      test: { include: ['**/*'] },
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.allowSyscalls ? { sandbox: { allowSyscalls: options.allowSyscalls } } : {}),
      ...(options.microvm ? { microvm: options.microvm } : {}),
      stateDir: options.stateDir ?? '.seedfork',
    },
    'the sandbox options',
  );
  const context = await contextOf({ config, root: dir, file: '' }, options.backend ?? 'namespace', options);
  context.precloned = Object.entries(options.services ?? {})
    .filter(([, service]) => typeof service === 'object' && service !== null && 'pool' in service)
    .map(([name]) => name);
  return context;
}

/**
 * The context of a loaded config (`seedfork.config.*`, or the options made into one): its
 * services, limits, sandbox and microvm keys; `options` adds the environment and the budget.
 * @throws SeedforkError when the backend cannot run here (its preflight)
 */
export async function contextOf(
  loaded: LoadedConfig,
  name: BackendName,
  options: Pick<SandboxOptions, 'env' | 'memoryBudget'> = {},
): Promise<SdkContext> {
  const { config, root: dir } = loaded;
  const stateDir = resolve(dir, config.stateDir);
  const id = JSON.stringify([name, stateDir, dir, config.sandbox.allowSyscalls, config.microvm]);
  let backend = backends.get(id);
  if (!backend) {
    backend = backendFor(name, stateDir, {
      ownDirs: [dir],
      confinement: { allowSyscalls: config.sandbox.allowSyscalls },
      microvm: microvmOptions(config),
    });
    backends.set(id, backend);
  }
  await backend.preflight();
  const limits = sandboxLimits(config);
  const reserveBytes =
    name === 'microvm' ? parseSize(config.microvm.memory) : (limits.memoryBytes ?? totalmem());
  const budget = options.memoryBudget;
  return {
    backend,
    loaded,
    baseEnv: { ...baseEnvironment(config).env, ...options.env },
    limits,
    reserveBytes,
    precloned: [],
    budgetBytes:
      budget === undefined
        ? Math.max(0, totalmem() - 1024 ** 3)
        : typeof budget === 'number'
          ? budget
          : parseSize(budget),
  };
}
