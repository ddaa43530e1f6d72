import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PostgresServiceConfig } from '../../config/schema.js';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { names, templateHashOfKey } from '../../pg/names.js';
import type { ReadyCheck } from '../ready.js';
import { awaitReady, resumed, track } from './process.js';
import type { RunningService, ServiceContext, ServiceDriver } from './types.js';

/** System user the server runs as when seedfork runs as root (PostgreSQL refuses root). */
const PG_SYSTEM_USER = 'postgres';

/**
 * Settings that make a throwaway test cluster fast: no fsync, small WAL. Safe because a
 * sandbox's data is discarded; never use them for data you keep.
 * Source: PostgreSQL docs, "Non-Durable Settings" (runtime-config / non-durability).
 */
const TEST_SETTINGS: Record<string, string | number | boolean> = {
  fsync: false,
  synchronous_commit: false,
  full_page_writes: false,
  unix_socket_directories: '',
  listen_addresses: '127.0.0.1',
  shared_buffers: '32MB',
  max_connections: 100,
  log_min_messages: 'warning',
};

/**
 * Directory with the PostgreSQL server binaries: `config.bin`, else the newest
 * /usr/lib/postgresql/<version>/bin (Debian/Ubuntu layout).
 * @throws SeedforkError telling how to install PostgreSQL.
 */
export function findPostgresBin(config: PostgresServiceConfig): string {
  if (config.bin) {
    if (!existsSync(join(config.bin, 'postgres'))) {
      throw new SeedforkError(`no postgres binary in ${config.bin}`, {
        hint: 'Point services.<name>.bin at the directory holding initdb and postgres.',
      });
    }
    return config.bin;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new SeedforkError(
      'PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/postgres)',
      {
        hint: 'Install them with `apt-get install postgresql`, or set seed.services.<name>.bin.',
      },
    );
  }
  return join(root, versions[0]!, 'bin');
}

function formatSetting(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return String(value);
  return `'${value.replace(/'/g, "''")}'`;
}

/** Ready when postmaster.pid's status line says "ready" (PostgreSQL >= 10 writes it there). */
function postmasterReady(dataDir: string): ReadyCheck {
  return {
    description: 'postmaster.pid status "ready"',
    isReady: async (sb) => {
      const text = await sb.readFile(join(dataDir, 'postmaster.pid'));
      return text?.toString('utf8').split('\n')[7]?.trim() === 'ready';
    },
  };
}

function runAs(): string | undefined {
  return process.getuid?.() === 0 ? PG_SYSTEM_USER : undefined;
}

/**
 * Numeric ids of the account the server runs as, for the directories it owns; undefined when
 * it runs as seedfork's own user (not root).
 * @throws SeedforkError when seedfork runs as root and the sandbox has no postgres user
 */
async function serverOwner(
  sandbox: ServiceContext['sandbox'],
): Promise<{ uid: number; gid: number } | undefined> {
  const user = runAs();
  if (!user) return undefined;
  const entry = ((await sandbox.readFile('/etc/passwd'))?.toString('utf8') ?? '')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!entry) {
    throw new SeedforkError(
      `there is no '${user}' system user to run PostgreSQL as (it refuses to run as root)`,
      {
        hint: 'Install PostgreSQL from your distribution (`apt-get install postgresql` creates the user), or `useradd --system postgres`.',
      },
    );
  }
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** The file in a data directory that names the template whose pool databases it holds. */
const POOL_MARKER = 'seedfork-pool';

/** The tablespace that holds the databases cloned ahead for the snapshot. */
const POOL_TABLESPACE = 'seedfork_pool';

/**
 * Where the pool tablespace of the server with data directory `dataDir` keeps its files
 * (`dir`, `<dataDir>.pool`), and the symbolic link to it that PostgreSQL knows as the
 * tablespace's location (`link`, `<dataDir>.pool-link`; pg_tblspc/<oid> points at it).
 *
 * Why a link: at every start PostgreSQL lists each database directory of every tablespace for
 * temporary files to remove (RemovePgTempFiles, src/backend/storage/file/fd.c), about 300
 * entries a database; with 128 clones that is 40,000 entries and 8 to 11 ms on ext4 here,
 * which no setting turns off. A snapshot holds the tablespace without its link: a fork's server
 * finds the location missing, logs `could not open directory "pg_tblspc/…"` (LOG, twice) and
 * starts as fast as without clones; seedfork makes the link as soon as the server is ready,
 * before anything connects (startServer). Clones made later in a fork (refill) go to the
 * template's tablespace, the default one.
 */
export function poolTablespacePaths(dataDir: string): { dir: string; link: string } {
  return { dir: `${dataDir}.pool`, link: `${dataDir}.pool-link` };
}

/**
 * Clone `config.pool` test databases from the seeded database (after the seed steps; `auto`:
 * 32, fewer when they would take more than 1 GiB together), as
 * testDatabase()'s pool names them under the template of `snapshotKey`, so that the snapshot
 * holds them and every fork starts with them ready (a take is then a lock, a rename and a
 * connect). The template is built first (`sftpl_<hash>`, a template database that takes no
 * connections); the clones copy its files (`STRATEGY file_copy`) into tablespace
 * `seedfork_pool` (poolTablespacePaths says why). Nothing when `pool` is 0.
 * @returns how many were cloned
 * @throws SeedforkError when a clone fails, typically because a seed step left a connection
 *   to the database open
 */
export async function precloneTestDatabases(
  ctx: Pick<ServiceContext, 'name' | 'sandbox' | 'dataDir' | 'env'>,
  config: PostgresServiceConfig,
  snapshotKey: string,
): Promise<number> {
  if (config.pool === 0) return 0;
  const hash = templateHashOfKey(snapshotKey);
  const template = names.template(hash);
  const source = `"${config.database.replace(/"/g, '""')}"`;
  const bin = findPostgresBin(config);
  const psql = [join(bin, 'psql'), '-h', '127.0.0.1', '-p', String(config.port), '-U', config.user];
  let count = config.pool === 'auto' ? AUTO_POOL.databases : config.pool;
  if (config.pool === 'auto') {
    const size = await ctx.sandbox.exec(
      [...psql, '-d', 'postgres', '-XqtA', '-c', `select pg_database_size(${sqlLiteral(config.database)})`],
      { env: ctx.env, cwd: '/', timeoutMs: 60_000 },
    );
    const bytes = Number(size.output.trim());
    if (size.exitCode === 0 && bytes > 0) count = Math.min(count, Math.floor(AUTO_POOL.bytes / bytes));
    if (count === 0) return 0;
  }
  const tablespace = poolTablespacePaths(ctx.dataDir);
  const owner = await serverOwner(ctx.sandbox);
  await ctx.sandbox.makeDir(tablespace.dir, { mode: 0o700, ...(owner ? { owner } : {}) });
  if (!(await ctx.sandbox.exists(tablespace.link)))
    await ctx.sandbox.symlink(tablespace.dir, tablespace.link);
  const statements = [
    `CREATE TABLESPACE ${POOL_TABLESPACE} LOCATION ${sqlLiteral(tablespace.link)}`,
    `CREATE DATABASE ${template} TEMPLATE ${source} STRATEGY file_copy`,
    `ALTER DATABASE ${template} WITH is_template true allow_connections false`,
    ...Array.from(
      { length: count },
      () =>
        `CREATE DATABASE ${names.fresh(hash, names.newId())} TEMPLATE ${template} STRATEGY file_copy TABLESPACE ${POOL_TABLESPACE}`,
    ),
  ];
  const r = await ctx.sandbox.exec(
    [
      ...psql,
      '-d',
      'postgres',
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      ...statements.flatMap((sql) => ['-c', sql]),
    ],
    { env: ctx.env, cwd: '/', timeoutMs: 600_000 },
  );
  if (r.exitCode !== 0)
    throw new SeedforkError(`cannot clone the ${count} test databases of service ${ctx.name}`, {
      details: r.output,
      hint: `A seed step may have left a connection to ${config.database} open: close it, or set seed.services.${ctx.name}.pool to 0.`,
    });
  await ctx.sandbox.writeFile(join(ctx.dataDir, POOL_MARKER), `${hash}\n`);
  return count;
}

/**
 * Tidy a stopped server's data directory before it is frozen into a snapshot:
 * - remove the relation cache init files (`pg_internal.init`) of its databases, the pool
 *   tablespace's included. PostgreSQL removes every one of them at each start anyway
 *   (RelationCacheInitFileRemove, src/backend/utils/cache/relcache.c), so nothing is lost; but
 *   in a fork, removing a file of the snapshot's layer is an overlayfs whiteout: with 128
 *   pooled databases, a start on such an overlay went from 18 ms slower than with none to 14 ms
 *   (medians of 21 starts each on the development machine);
 * - remove the link to the pool tablespace, so that a fork's server does not list the clones'
 *   directories when it starts (poolTablespacePaths); startServer makes it again.
 * @throws SeedforkError when the files cannot be removed
 */
export async function tidyDataDirectory(
  ctx: Pick<ServiceContext, 'name' | 'sandbox' | 'dataDir'>,
): Promise<void> {
  const { dir, link } = poolTablespacePaths(ctx.dataDir);
  const r = await ctx.sandbox.exec(
    [
      'sh',
      '-c',
      'rm -f -- "$1"/global/pg_internal.init "$1"/base/*/pg_internal.init "$2"/*/*/pg_internal.init "$3"',
      'sh',
      ctx.dataDir,
      dir,
      link,
    ],
    { cwd: '/', timeoutMs: 60_000 },
  );
  if (r.exitCode !== 0)
    throw new SeedforkError(`cannot tidy the data directory of service ${ctx.name} for the snapshot`, {
      details: r.output,
    });
}

/** `pool: 'auto'`: this many databases, fewer when together they would take more bytes. */
const AUTO_POOL = { databases: 32, bytes: 1024 ** 3 };

/** `text` as an SQL string literal. */
function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** What a fork's pool needs to know: the template whose databases the snapshot holds. */
async function poolEnv(ctx: ServiceContext): Promise<Record<string, string>> {
  const hash = (await ctx.sandbox.readFile(join(ctx.dataDir, POOL_MARKER)))?.toString('utf8').trim();
  return hash ? { SEEDFORK_PG_POOL_READY: hash } : {};
}

function connectionEnv(name: string, config: PostgresServiceConfig): Record<string, string> {
  const url = `postgresql://${config.user}@127.0.0.1:${config.port}/${config.database}`;
  return {
    [`${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`]: url,
    DATABASE_URL: url,
    PGHOST: '127.0.0.1',
    PGPORT: String(config.port),
    PGUSER: config.user,
    PGDATABASE: config.database,
  };
}

/**
 * Once the server is ready, the link to its pool tablespace that the snapshot left out
 * (tidyDataDirectory): the clones' directories are then reachable before any test connects.
 * Nothing when the data directory has no pool tablespace or the link is there.
 */
async function linkPoolTablespace(ctx: Pick<ServiceContext, 'sandbox' | 'dataDir'>): Promise<void> {
  const { dir, link } = poolTablespacePaths(ctx.dataDir);
  if (!(await ctx.sandbox.exists(dir)) || (await ctx.sandbox.exists(link))) return;
  await ctx.sandbox.symlink(dir, link);
}

async function startServer(ctx: ServiceContext, config: PostgresServiceConfig): Promise<RunningService> {
  const bin = findPostgresBin(config);
  const proc = track(
    ctx.sandbox.spawn([join(bin, 'postgres'), '-D', ctx.dataDir], {
      env: ctx.env,
      user: runAs(),
      cwd: '/',
      logFile: ctx.logFile,
    }),
  );
  const stop = () => proc.stop('SIGINT', 30_000); // SIGINT = "fast shutdown"
  await awaitReady(ctx, proc, postmasterReady(ctx.dataDir), config.readyTimeoutMs, stop);
  await linkPoolTablespace(ctx).catch(async (error: Error) => {
    await stop();
    throw new SeedforkError(`cannot link the pool tablespace of service ${ctx.name}`, {
      details: error.message,
    });
  });
  const env = { ...connectionEnv(ctx.name, config), ...(await poolEnv(ctx)) };
  return { name: ctx.name, env, url: env.DATABASE_URL, logFile: ctx.logFile, stop };
}

/** PostgreSQL from the host's binaries; data directory created with initdb inside the seed. */
export const postgresDriver: ServiceDriver<PostgresServiceConfig> = {
  async seed(ctx, config) {
    const bin = findPostgresBin(config);
    const user = runAs();
    const owner = await serverOwner(ctx.sandbox);
    await ctx.sandbox.makeDir(dirname(ctx.dataDir), { mode: 0o755 });
    await ctx.sandbox.makeDir(ctx.dataDir, { mode: 0o700, ...(owner ? { owner } : {}) });
    const initdb = await ctx.sandbox.exec(
      [
        join(bin, 'initdb'),
        '-D',
        ctx.dataDir,
        '-U',
        config.user,
        '--auth=trust',
        '--no-sync',
        '-E',
        'UTF8',
        '--locale=C',
        '--wal-segsize=1',
      ],
      { env: ctx.env, user, cwd: '/', timeoutMs: 120_000 },
    );
    if (initdb.exitCode !== 0) {
      throw new SeedforkError(`initdb for service ${ctx.name} failed (exit ${initdb.exitCode})`, {
        details: initdb.output,
      });
    }
    const settings = { ...TEST_SETTINGS, port: config.port, ...config.settings };
    const conf = join(ctx.dataDir, 'postgresql.conf');
    const written = (await ctx.sandbox.readFile(conf))?.toString('utf8') ?? '';
    await ctx.sandbox.writeFile(
      conf,
      `${written}\n# seedfork\n${Object.entries(settings)
        .map(([k, v]) => `${k} = ${formatSetting(v)}`)
        .join('\n')}\n`,
    );
    const running = await startServer(ctx, config);
    if (config.database !== 'postgres') {
      const create = await ctx.sandbox.exec(
        [
          join(bin, 'psql'),
          '-h',
          '127.0.0.1',
          '-p',
          String(config.port),
          '-U',
          config.user,
          '-d',
          'postgres',
          '-v',
          'ON_ERROR_STOP=1',
          '-qc',
          `CREATE DATABASE "${config.database.replace(/"/g, '""')}"`,
        ],
        { env: ctx.env, cwd: '/', timeoutMs: 60_000 },
      );
      if (create.exitCode !== 0) {
        await running.stop();
        throw new SeedforkError(`cannot create database ${config.database} in service ${ctx.name}`, {
          details: create.output,
        });
      }
    }
    return running;
  },
  start: startServer,
  async resume(ctx, config) {
    const env = { ...connectionEnv(ctx.name, config), ...(await poolEnv(ctx)) };
    return resumed(ctx, postmasterReady(ctx.dataDir), config.readyTimeoutMs, { env, url: env.DATABASE_URL });
  },
};
