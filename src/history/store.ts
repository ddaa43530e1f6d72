import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { diskUsage } from '../fs/disk-space.js';
import { holdLockFile } from '../locks/lock-file.js';
import { loadPg } from '../pg/load-pg.js';
import { discardEmptyStore, startFromEmptyStore } from './empty-store.js';
import { MIGRATIONS } from './migrations.js';

/** Something SQL can be sent to: the store itself, or a transaction in it. Parameters are `$1`… */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * The flakiness history's database: embedded (PGlite, a directory, no server) or any PostgreSQL,
 * with the same SQL and migrations (migrations.ts) for both.
 */
export interface HistoryStore extends Queryable {
  readonly kind: 'embedded' | 'postgres';
  /** The directory, or the URL without its password: for messages. */
  readonly location: string;
  /** Run `fn` in one transaction: all of it is stored, or none (it rolls back on a throw). */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * shared_buffers of the embedded store's PostgreSQL: PGlite sets the buffer pool up in
 * WebAssembly memory at every open, and each CLI command opens the store once; initdb's 128MB
 * cost about 400 ms of that (1.0 s against 0.6 s with 16MB, measured here), while a large history
 * queries 15-30% slower with 16MB (bench/history.ts, 1M results: flaky 652 against 830 ms). So
 * the pool follows the data: the size of the store's databases beyond the three an empty store
 * holds (about 22 MiB), rounded up to a power of two from 16MB to 128MB.
 */
function sharedBuffersFor(location: string): string {
  const data = Math.max(0, diskUsage(join(location, 'base')) - EMPTY_STORE_BYTES);
  let mb = 16;
  while (mb < 128 && mb * 1024 ** 2 < data) mb *= 2;
  return `${mb}MB`;
}

/** The databases of a new embedded store (template0, template1, postgres), in bytes. */
const EMPTY_STORE_BYTES = 22 * 1024 ** 2;

/** How long a command waits for another seedfork process to let go of the embedded store. */
const LOCK_WAIT_MS = 30_000;

/**
 * Open the history at `target`: a `postgres://` (or `postgresql://`) URL, or a directory for the
 * embedded store (created when missing), and bring its schema up to date.
 * @throws SeedforkError when the database cannot be reached, the embedded store is corrupt, or
 *   another process holds the embedded store for longer than 30 s
 */
export async function openHistory(target: string): Promise<HistoryStore> {
  const store = /^postgres(ql)?:\/\//.test(target) ? await openPostgres(target) : await openEmbedded(target);
  try {
    await migrate(store);
  } catch (error) {
    await store.close();
    throw new SeedforkError(
      `the history at ${store.location} cannot be brought up to date: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return store;
}

/** Apply the migrations not applied yet, each in a transaction; one process at a time. */
async function migrate(store: HistoryStore): Promise<void> {
  await store.transaction(async (tx) => {
    // PostgreSQL: concurrent openers wait here (PGlite is single-process: the file lock holds)
    if (store.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(7357001)');
    await tx.query(
      'create table if not exists history_migrations (version int primary key, applied_at timestamptz not null default now())',
    );
    const done = new Set(
      (await tx.query<{ version: number }>('select version from history_migrations')).map((r) => r.version),
    );
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const statement of m.sql) await tx.query(statement);
      await tx.query('insert into history_migrations (version) values ($1)', [m.version]);
    }
  });
}

async function openPostgres(url: string): Promise<HistoryStore> {
  const pg = await loadPg('a history database on PostgreSQL (--db postgres://…)');
  const location = url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {}); // an idle client that lost its server: the next query says so
  try {
    await pool.query('select 1');
  } catch (error) {
    await pool.end();
    throw new SeedforkError(
      `cannot reach the history database ${location}: ${(error as Error).message}. Check the URL (--db or SEEDFORK_DB) and that the server is up.`,
      { cause: error },
    );
  }
  return {
    kind: 'postgres',
    location,
    async query<T>(sql: string, params?: unknown[]) {
      return (await pool.query(sql, params)).rows as T[];
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await fn({
          query: async <R>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[],
        });
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function openEmbedded(dir: string): Promise<HistoryStore> {
  const location = resolve(dir);
  mkdirSync(dirname(location), { recursive: true });
  const unlock = await holdLockFile(`${location}.lock`, {
    waitMs: LOCK_WAIT_MS,
    inUse: (holder) =>
      `the embedded history ${location} is in use by process ${holder} (seedfork ingest, flaky or serve); try again when it is done, or use a PostgreSQL history (history.db: postgres://…) for concurrent writers.`,
  });
  const { PGlite } = await import('@electric-sql/pglite');
  const start = async () => {
    const db = new PGlite(location, {
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffersFor(location)}`],
    });
    await db.waitReady;
    await db.query('select 1');
    return db;
  };
  let db: InstanceType<typeof PGlite>;
  try {
    const template = await startFromEmptyStore(location);
    db = await start().catch(async (error: unknown) => {
      if (!template) throw error;
      // the cached empty database is damaged: make this store and the cache afresh
      discardEmptyStore(template, location);
      return start();
    });
  } catch (error) {
    unlock();
    throw new SeedforkError(
      `the embedded history at ${location} cannot be opened (${(error as Error).message}); it may be corrupt. Move it aside to start a new one, or point history.db at another directory.`,
      { cause: error },
    );
  }
  return {
    kind: 'embedded',
    location,
    async query<T>(sql: string, params?: unknown[]) {
      return (await db.query<T>(sql, params)).rows;
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) =>
        fn({ query: async <R>(sql: string, params?: unknown[]) => (await tx.query<R>(sql, params)).rows }),
      );
    },
    async close() {
      try {
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
