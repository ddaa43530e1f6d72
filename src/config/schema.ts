import { z } from 'zod';
import { serviceOrder } from './service-order.js';

const readyCheck = z.union([
  z.strictObject({ port: z.number().int().min(1).max(65535) }),
  z.strictObject({ command: z.string().min(1) }),
  z.strictObject({ log: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);

/**
 * Which of a service's environment variables reach the seed steps and the tests: a variable
 * mapped to a string is exported under that name instead, one mapped to `false` is left out.
 */
const exportsSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
    z.union([
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
      z.literal(false),
    ]),
  )
  .default({});

/** A PostgreSQL server from the host's binaries, initialised inside the seed. */
/** Services this one starts after (each started and ready first); names in `seed.services`. */
const dependsOnSchema = z.array(z.string().min(1)).default([]);

export const postgresServiceSchema = z.strictObject({
  kind: z.literal('postgres').optional(),
  exports: exportsSchema,
  dependsOn: dependsOnSchema,
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1).default('app'),
  user: z.string().min(1).default('postgres'),
  /** Directory with initdb/postgres; default: the newest /usr/lib/postgresql/<version>/bin. */
  bin: z.string().optional(),
  /** Extra server settings (postgresql.conf keys). */
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  readyTimeoutMs: z.number().int().positive().default(30_000),
  /**
   * Test databases (`testDatabase()`, seedfork/pg) cloned from the seeded database at seed
   * time and frozen in the snapshot, so that every fork starts with this many ready; 0 for
   * none. Default `auto`: 32, fewer when the seeded database is large (the clones together
   * take at most 1 GiB of the snapshot), and none when no file under the tests' directories
   * calls testDatabase() or a runner helper over it (see servicesToSeed).
   */
  pool: z.union([z.literal('auto'), z.number().int().min(0).max(1000)]).default('auto'),
});

/** Any long-running command, with a readiness check. */
export const commandServiceSchema = z.strictObject({
  kind: z.literal('command').optional(),
  command: z.string().min(1),
  exports: exportsSchema,
  dependsOn: dependsOnSchema,
  ready: readyCheck.optional(),
  env: z.record(z.string(), z.string()).default({}),
  /** Run as this user of the sandbox (default: the caller). */
  user: z.string().optional(),
  readyTimeoutMs: z.number().int().positive().default(30_000),
});

/**
 * A Redis server (Debian's redis-server): started in the seed so that seed steps can fill it,
 * saved into the snapshot, and started again from that data in every fork. Exports
 * `REDIS_URL` and `<NAME>_URL`.
 */
export const redisServiceSchema = z.strictObject({
  kind: z.literal('redis'),
  exports: exportsSchema,
  dependsOn: dependsOnSchema,
  port: z.number().int().min(1).max(65535).default(6379),
  /** The redis-server binary; default: redis-server on PATH, else /usr/bin/redis-server. */
  bin: z.string().optional(),
  /** Extra redis.conf directives (`maxmemory: '64mb'`). */
  settings: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  readyTimeoutMs: z.number().int().positive().default(30_000),
});

const serviceSchema = z.union([redisServiceSchema, commandServiceSchema, postgresServiceSchema]);

const runnerSchema = z.union([
  z.enum(['node', 'vitest', 'jest', 'mocha', 'playwright', 'pytest', 'go']),
  z.strictObject({
    /** Shell command; `{files}` becomes the quoted file list, `{junit}` the report path. */
    command: z
      .string()
      .min(1)
      .refine((c) => c.includes('{files}'), {
        message: 'must contain {files}, where seedfork puts the test files',
      }),
    /** Where the command writes JUnit XML (may use {junit}); omit to judge by exit code. */
    junit: z.string().optional(),
  }),
]);

const size = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(\.\d+)?\s*(B|KiB|MiB|GiB|KB|MB|GB|K|M|G)?$/i),
]);

/** A glob of environment variable names (`*`, `?`, `[...]`). */
const envGlob = z.string().regex(/^[A-Za-z0-9_*?[\]!-]+$/, 'must be a glob of environment variable names');

/** Disk the snapshots other than the current one may take before `gc` prunes them. */
export const DEFAULT_SNAPSHOT_BUDGET = '4GiB';

/** The whole seedfork.config.* file. Unknown keys are errors. */
export const configSchema = z.strictObject({
  seed: z
    .strictObject({
      /** Globs of files whose contents key the snapshot cache (lockfile, migrations). */
      inputs: z.array(z.string()).default([]),
      /** Shell commands run in order inside the seed sandbox, with the services up. */
      steps: z.array(z.string()).default([]),
      services: z
        .record(z.string(), serviceSchema)
        .default({})
        .superRefine((services, ctx) => {
          try {
            serviceOrder(services);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message, path: [] });
          }
        }),
      /** `host` shares the host network while seeding (for `npm ci`); forks are always isolated. */
      network: z.enum(['isolated', 'host']).default('isolated'),
      stepTimeoutMs: z.number().int().positive().default(600_000),
    })
    .default({ inputs: [], steps: [], services: {}, network: 'isolated', stepTimeoutMs: 600_000 }),
  test: z.strictObject({
    include: z.array(z.string()).min(1),
    exclude: z.array(z.string()).default(['**/node_modules/**']),
    runner: runnerSchema.default('node'),
    /** Per test file (or shard), in ms. */
    timeoutMs: z.number().int().positive().default(300_000),
    /** After the runner has written its last result, how long it may take to exit (ms) before
     * it is killed and reported as "did not exit" with its process tree. */
    exitGraceMs: z.number().int().min(0).default(10_000),
    /** Variables for the test command; `false` removes one the host or a service would set. */
    env: z.record(z.string(), z.union([z.string(), z.literal(false)])).default({}),
    /** Globs (relative to the root) of files a test run writes that are copied out of each
     * sandbox into report.artifacts/<test file>/ (coverage, traces, screenshots). */
    artifacts: z.array(z.string().min(1)).default([]),
  }),
  isolation: z.enum(['namespace', 'microvm', 'none']).default('namespace'),
  /** The guests of `isolation: 'microvm'` (src/sandbox/microvm). */
  microvm: z
    .strictObject({
      /** Memory of each guest. Forks map the snapshot's memory and use what they touch. */
      memory: size.default('1GiB'),
      /** Virtual CPUs of each guest. */
      cpus: z.number().int().positive().max(64).default(1),
      /** The Debian kernel package guests boot (a metapackage, or a versioned linux-image-…). */
      kernel: z
        .string()
        .regex(/^linux-image-[a-z0-9.+-]+$/, 'must be a Debian linux-image package')
        .optional(),
      /** `auto`: KVM where /dev/kvm is hardware KVM, else TCG (software emulation). */
      accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
      /** Debian packages the guest's root filesystem gets beyond the base ones and the services'. */
      packages: z
        .array(z.string().regex(/^[a-z0-9][a-z0-9.+-]+$/, 'must be a Debian package name'))
        .default([]),
    })
    .default({ memory: '1GiB', cpus: 1, accel: 'auto', packages: [] }),
  workers: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
  /** One sandbox per test file, or one per worker whose files run in turn. `shard` is the
   * deprecated name of `worker` (a shard is a CI machine's share: `--shard`). */
  per: z
    .enum(['file', 'worker', 'shard'])
    .default('file')
    .transform((p) => (p === 'shard' ? 'worker' : p)),
  /** Rerun a failed file this many times in fresh forks; passing on a retry is reported as flaky. */
  retries: z.number().int().min(0).max(100).default(0),
  /** Per-sandbox limits; each defaults to DEFAULT_LIMITS (src/sandbox/types.ts), `false` lifts it. */
  limits: z
    .strictObject({
      /** Memory of the sandbox's processes (and what it keeps in /tmp and its disk quota). */
      memory: z.union([size, z.literal(false)]).optional(),
      /** Processes and threads. */
      pids: z.union([z.number().int().positive(), z.literal(false)]).optional(),
      /** What the sandbox writes (copy-on-write layer, /tmp and /dev/shm together). */
      disk: z.union([size, z.literal(false)]).optional(),
      /** Captured stdout and stderr of one test command. */
      output: z.union([size, z.literal(false)]).optional(),
      /** What seedfork reads of one file's report (DEFAULT_REPORT_LIMITS): a larger report, or
       * one with more test cases, makes the file an error naming the limit. */
      report: z
        .strictObject({
          bytes: z.union([size, z.literal(false)]).optional(),
          tests: z.union([z.number().int().positive(), z.literal(false)]).optional(),
        })
        .optional(),
    })
    .default({}),
  /** How test commands are confined inside the sandbox (see the README's security model). */
  sandbox: z
    .strictObject({
      /** System calls the sandbox refuses by default that this suite needs, e.g. ['ptrace']. */
      allowSyscalls: z.array(z.string().regex(/^[a-z_0-9]+$/, 'must be a system call name')).default([]),
      /** Which host environment variables reach seed steps, services and tests (see EnvPolicy
       * in src/sandbox/host-env.ts): names that look like secrets are withheld unless `pass`
       * names them; `deny` withholds more. Globs of names, case-insensitive. */
      env: z
        .strictObject({
          pass: z.array(envGlob).default([]),
          deny: z.array(envGlob).default([]),
        })
        .default({ pass: [], deny: [] }),
    })
    .default({ allowSyscalls: [], env: { pass: [], deny: [] } }),
  /** Recorded durations that sharding and the local queue plan with. */
  timings: z
    .strictObject({
      /** Timings file, relative to the config file; every run updates it. */
      path: z.string().min(1).default('.seedfork/timings.json'),
      /** Globs of earlier JUnit XML reports to read durations from, for files with no recorded timing. */
      junit: z.array(z.string()).default([]),
    })
    .default({ path: '.seedfork/timings.json', junit: [] }),
  audit: z
    .strictObject({
      /** Globs of sandbox paths the leftovers report ignores, on top of seedfork's own noise list. */
      ignore: z.array(z.string()).default([]),
    })
    .default({ ignore: [] }),
  /** Directories of caches to keep warm across sandboxes, on top of those the runner is known
   * to write (relative to the config file, absolute, or under `~/`). */
  cache: z.array(z.string().min(1)).default([]),
  /** What `seedfork gc` (and the start of every run) removes. */
  gc: z
    .strictObject({
      /** Snapshots other than the current one are pruned, least recently used first, until
       * all of them together take at most this much disk; `false` keeps them all. */
      snapshotBudget: z.union([size, z.literal(false)]).default(DEFAULT_SNAPSHOT_BUDGET),
    })
    .default({ snapshotBudget: DEFAULT_SNAPSHOT_BUDGET }),
  /** Where snapshots, sandboxes and reports live, relative to the config file. */
  /** The flakiness history (`seedfork ingest`, `flaky`): where it lives and how it judges. */
  history: z
    .strictObject({
      /** A PostgreSQL URL, or a directory for the embedded store (PGlite), relative to the
       * project. Default: `<stateDir>/history`. The environment's SEEDFORK_DB wins. */
      db: z.string().min(1).optional(),
      /** This project's service name in the history (its quarantine entries apply to `seedfork
       * run`). Default: the project directory's name. */
      service: z.string().min(1).optional(),
      /** The services that report here, with what each depends on (for correlation). */
      services: z
        .record(z.string().min(1), z.strictObject({ dependsOn: z.array(z.string().min(1)).default([]) }))
        .default({}),
      /** A failure streak this many runs long or longer is a regression (broken, then maybe
       * fixed), not a flake; shorter streaks between passes on a branch are flips. */
      regressionRuns: z.number().int().min(1).default(2),
      quarantine: z
        .strictObject({
          /** Quarantine a test automatically above this flake rate (0-1)... */
          threshold: z.number().min(0).max(1).default(0.1),
          /** ...over at least this many runs... */
          minRuns: z.number().int().min(1).default(10),
          /** ...and release it after this many clean runs in a row. */
          releaseAfter: z.number().int().min(1).default(10),
        })
        .default({ threshold: 0.1, minRuns: 10, releaseAfter: 10 }),
    })
    .default({
      services: {},
      regressionRuns: 2,
      quarantine: { threshold: 0.1, minRuns: 10, releaseAfter: 10 },
    }),
  stateDir: z.string().default('.seedfork'),
  report: z
    .strictObject({
      junit: z.string().optional(),
      json: z.string().default('.seedfork/results.json'),
      /** Where test.artifacts are copied, one directory per test file (emptied at each run). */
      artifacts: z.string().default('.seedfork/artifacts'),
    })
    .default({ json: '.seedfork/results.json', artifacts: '.seedfork/artifacts' }),
});

/** Config as written by the user (before defaults). */
export type UserConfig = z.input<typeof configSchema>;
/** Config after validation, with defaults filled in. */
export type Config = z.output<typeof configSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type PostgresServiceConfig = z.output<typeof postgresServiceSchema>;
export type CommandServiceConfig = z.output<typeof commandServiceSchema>;
export type RedisServiceConfig = z.output<typeof redisServiceSchema>;

/** Which driver a service uses: `kind` when given, else `command` when it has one, else postgres. */
export function serviceKind(config: ServiceConfig): 'postgres' | 'command' | 'redis' {
  if (config.kind) return config.kind;
  return 'command' in config ? 'command' : 'postgres';
}
export type ReadyCheckConfig = z.output<typeof readyCheck>;
export type RunnerConfig = z.output<typeof runnerSchema>;
