import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
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
  const { default: pg } = await import('pg');
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
  const unlock = await lockDirectory(`${location}.lock`);
  const { PGlite } = await import('@electric-sql/pglite');
  let db: InstanceType<typeof PGlite>;
  try {
    db = new PGlite(location);
    await db.waitReady;
    await db.query('select 1');
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

/**
 * Hold `path` as a lock file naming this process: PGlite keeps its database in one process's
 * memory and writes it back, so two processes on one directory would corrupt it. The lock
 * appears with its content at once (a temporary file hard-linked into place), so no one ever
 * reads it half written. A lock whose process is gone is taken over, by one process at a time
 * (`<path>.takeover`, itself stale after 10 s), which checks again that the lock still names
 * the dead process before removing it. Waits up to 30 s for a live holder.
 * @returns the function that lets go
 * @throws SeedforkError when another live process holds it all that time
 */
async function lockDirectory(path: string): Promise<() => void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const mine = `${path}.${process.pid}.${Date.now()}`;
  writeFileSync(mine, String(process.pid));
  try {
    for (;;) {
      try {
        linkSync(mine, path);
        return () => rmSync(path, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(path);
      if (holder !== undefined && !alive(holder)) takeOver(path, holder);
      else if (Date.now() > deadline) {
        throw new SeedforkError(
          holder === undefined
            ? `the lock file ${path} names no process: remove it if no seedfork command is using the history`
            : `the embedded history ${path.replace(/\.lock$/, '')} is in use by process ${holder} (seedfork ingest, flaky or serve); try again when it is done, or use a PostgreSQL history (history.db: postgres://…) for concurrent writers.`,
        );
      } else await new Promise((done) => setTimeout(done, 50 + Math.random() * 100));
    }
  } finally {
    rmSync(mine, { force: true });
  }
}

/** The pid a lock file names, or undefined when it is gone or unreadable. */
function readHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Remove a lock its dead `holder` left, if it still names it, as the only process doing so. */
function takeOver(path: string, holder: number): void {
  const guard = `${path}.takeover`;
  try {
    mkdirSync(guard);
  } catch {
    // another process is taking over; a guard its crashed maker left goes after 10 s
    try {
      if (Date.now() - statSync(guard).mtimeMs > 10_000) rmSync(guard, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
    return;
  }
  try {
    if (readHolder(path) === holder) rmSync(path, { force: true });
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
