import { SeedforkError } from '../errors/seedfork-error.js';
import { Connection, redact, sqlState } from './connection.js';
import { databaseOf, idOf, names, urlFor } from './names.js';

/** How a clone is copied (PostgreSQL 15+, `CREATE DATABASE … STRATEGY`); `auto` times both once. */
export type CloneStrategy = 'auto' | 'file_copy' | 'wal_log';

/** What a {@link TemplatePool} needs. */
export interface TemplatePoolOptions {
  /** A URL of the server; its database is cloned into the template unless `setup` is given. */
  url: string;
  /** The template's identity (16 hex digits): the snapshot key, or a hash of its inputs. */
  hash: string;
  /** Fresh databases kept ready. */
  size: number;
  strategy: CloneStrategy;
  /**
   * Clones this process's refill makes at once, each on a connection of its own (default 1).
   * CREATE DATABASE spends much of its time waiting on the checkpoints around its copy, which
   * clones made at once share: on the development machine 57 clones a second one at a time,
   * 155 two at a time, 181 four at a time (file_copy; 88, 122 and 155 with drops beside them).
   * Only where the connection budget has room for them all (else 1).
   */
  refill?: number;
  /** Builds the template in an empty database (`url` names it) instead of cloning `url`'s. */
  setup?: (url: string) => Promise<void>;
  /**
   * Leave released databases as they are (renamed as used, locked until this process ends)
   * instead of dropping them: in a sandbox, whose server ends with it, a drop (which waits for
   * a checkpoint) is work for nothing that the tests would wait behind. Default false.
   */
  keepReleased?: boolean;
}

/** A database of its own for one test, from {@link TemplatePool.take}. */
export interface TestDatabase {
  /** Connection URL of the database (the server's URL with this database). */
  url: string;
  /** Its name (`sfused_<hash>_<id>`). */
  name: string;
  /** Drop it (connections to it are closed first). Idempotent; never throws. */
  release(): Promise<void>;
}

/**
 * Connections the server must have free, beyond the pool's first, before the pool opens its
 * two others (refill, drop): below this it uses one, so that the tests' own connections fit.
 */
const ROOM_FOR_OWN_CONNECTIONS = 8;

/**
 * Connections a client without superuser rights may still open: `max_connections` less the
 * reserved ones and those open now (PostgreSQL docs, "Connections and Authentication").
 */
async function freeConnections(connection: Connection): Promise<number> {
  const { free } = await connection.one<{ free: number }>(
    `select current_setting('max_connections')::int
          - current_setting('superuser_reserved_connections')::int
          - (select count(*) from pg_stat_activity where backend_type = 'client backend')::int as free`,
  );
  return free;
}

/** Advisory lock namespaces (first key of the two-int form; the bigint form holds databases). */
const LOCK = { template: 0x5eed01, fill: 0x5eed02 };
/** The bigint advisory lock key that marks a pool database as someone's, from its oid. */
const dbLock = (oid: string) => (BigInt(0x5eed00) << 32n) | BigInt(oid);

/**
 * A pool of databases cloned from one template, shared by every process that connects to the
 * same server with the same template hash: Jest and Vitest workers, the files of a sandbox, CI
 * jobs on one machine. The processes coordinate through PostgreSQL only (the approach of
 * IntegreSQL and pgtestdb, github.com/allaboutapps/integresql, github.com/peterldowns/pgtestdb):
 * - the template is built once per hash under an advisory lock;
 * - a fresh database is taken by locking its oid (`pg_try_advisory_lock`, held by the taker's
 *   session) and renaming it `sfused_…`, so no two processes ever get the same one;
 * - one process at a time refills the pool in the background (`CREATE DATABASE … TEMPLATE`),
 *   `refill` clones at once;
 * - a used database whose lock nobody holds belonged to a process that died: the next pool to
 *   start drops it.
 * Pool databases hold no connections; each process holds three (taking, refilling, dropping),
 * and `refill - 1` more for clones made at once.
 */
export class TemplatePool {
  /** Takes databases and holds their locks (the locks belong to this session). */
  private admin: Connection | undefined;
  /** Builds the template and refills the pool. */
  private filler: Connection | undefined;
  /** More refill connections, for clones made at once (options.refill). */
  private fillers: Connection[] = [];
  /** Clones this process has under way. */
  private cloning = 0;
  /** Drops released databases, so that a drop never holds up a take. */
  private dropper: Connection | undefined;
  private readonly held = new Map<string, string>();
  private filling: Promise<void> | undefined;
  private fillError: unknown;
  /** This process's takes, one at a time (the tail of their chain). */
  private taking: Promise<unknown> = Promise.resolve();
  /** Takes waiting or under way: the refill keeps cloning while there are any. */
  private wanted = 0;
  /** Takes waiting for the next clone. */
  private wake: (() => void)[] = [];
  /** Fresh databases not tried yet, as tryTake last listed them. */
  private listed: { oid: string; datname: string }[] = [];
  /** Fresh databases this process connected to once (see warmAhead). */
  private readonly warmed = new Set<string>();
  /** The fresh database being warmed now, which takes leave alone meanwhile. */
  private warmingName: string | undefined;
  /** ms per clone, by strategy, while `auto` is still timing them. */
  private readonly timed: Partial<Record<'file_copy' | 'wal_log', number>> = {};
  readonly ready: Promise<void>;

  constructor(private readonly options: TemplatePoolOptions) {
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  /**
   * A fresh database of its own: from the pool when one is ready, else the next one cloned
   * (this process's refill, or another's), within `waitMs`.
   * @throws SeedforkError when the server cannot be reached, the template cannot be built, a
   *   clone fails, or none comes within `waitMs`
   */
  async take(waitMs = 60_000): Promise<TestDatabase> {
    await this.ready;
    this.wanted++;
    try {
      const mine = this.taking.then(() => this.takeOne(waitMs));
      this.taking = mine.catch(() => {});
      return await mine;
    } finally {
      this.wanted--;
    }
  }

  /** Drop every database this process still holds, then close the connections. Never throws. */
  async close(): Promise<void> {
    await this.ready.catch(() => {});
    const connections = this.connections();
    this.filler = undefined; // stops the refill after its current clone
    await this.filling;
    await Promise.all([...this.held.keys()].map((name) => this.drop(name)));
    this.admin = this.dropper = undefined;
    this.fillers = [];
    await Promise.all(connections.map((c) => c.close()));
  }

  private async takeOne(waitMs: number): Promise<TestDatabase> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const db = await this.tryTake();
      this.refill();
      if (db) return db;
      if (this.fillError) throw this.fillError;
      if (Date.now() > deadline)
        throw new SeedforkError(`no database from the template pool within ${waitMs} ms`, {
          hint: 'The server clones more slowly than the tests take databases: raise poolSize (SEEDFORK_PG_POOL_SIZE) so that more are ready ahead.',
        });
      // the next clone of this process wakes us; another process's is seen by looking again
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 25);
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Take a fresh database if one is ready (lock its oid, then rename it as used), a warmed
   * one first; then warm the next. */
  private async tryTake(): Promise<TestDatabase | undefined> {
    const admin = this.admin!;
    // the fresh databases as last listed: listed again only when those are used up (one round
    // trip less a take); one another process took meanwhile fails its lock or its rename below
    if (this.listed.length === 0)
      this.listed = await admin.query<{ oid: string; datname: string }>(
        'select oid::bigint::text as oid, datname from pg_database where datname like $1 order by datname',
        [names.freshPattern(this.options.hash)],
      );
    const fresh = [
      ...this.listed.filter((r) => this.warmed.has(r.datname)),
      ...this.listed.filter((r) => !this.warmed.has(r.datname) && r.datname !== this.warmingName),
    ];
    for (const [index, row] of fresh.entries()) {
      this.listed = this.listed.filter((r) => r !== row);
      const key = dbLock(row.oid).toString();
      const { ok } = await admin.one<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [key]);
      if (!ok) continue; // another process is taking it
      const name = names.used(this.options.hash, idOf(row.datname));
      try {
        await admin.query(`alter database ${row.datname} rename to ${name}`);
      } catch {
        // taken and dropped in between (its lock was released): try the next
        await admin.query('select pg_advisory_unlock($1)', [key]);
        continue;
      }
      this.held.set(name, row.oid);
      this.warmed.delete(row.datname);
      this.warmAhead(fresh.slice(index + 1).map((r) => r.datname));
      return this.handOut(name);
    }
    return undefined;
  }

  /**
   * Connect once, in the background, to the next fresh database this process has not warmed,
   * so that the test that takes it connects in the time of a connection to a database in use:
   * a clone has no relation cache init file (pg_internal.init), and PostgreSQL removes every
   * database's when it starts (as in each fork of a snapshot), so the first connection to each
   * rebuilds it from the catalogs (about 4 ms here). The database counts as warm once its
   * backend is gone, so that the rename of a take does not wait for it.
   */
  private warmAhead(candidates: string[]): void {
    const next = candidates.find((name) => !this.warmed.has(name));
    if (this.warmingName || !next || !this.filler) return;
    this.warmingName = next;
    void (async () => {
      try {
        const connection = await Connection.open(urlFor(this.options.url, next));
        await connection.one('select 1');
        await connection.close();
        for (let i = 0; i < 100 && this.filler; i++) {
          const { n } = await this.filler.one<{ n: number }>(
            'select count(*)::int as n from pg_stat_activity where datname = $1',
            [next],
          );
          if (n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        this.warmed.add(next);
      } catch {
        // taken, renamed or dropped meanwhile: nothing to warm
      } finally {
        this.warmingName = undefined;
      }
    })();
  }

  /** The pool's open connections, each once (with little room, one serves all three roles). */
  private connections(): Connection[] {
    return [...new Set([this.admin, this.filler, this.dropper, ...this.fillers])].filter(
      (c) => c !== undefined,
    );
  }

  /** Databases this process holds now. */
  get holding(): string[] {
    return [...this.held.keys()];
  }

  private handOut(name: string): TestDatabase {
    let released: Promise<void> | undefined;
    return {
      name,
      url: urlFor(this.options.url, name),
      release: () => {
        released ??= this.drop(name);
        return released;
      },
    };
  }

  private async drop(name: string): Promise<void> {
    const oid = this.held.get(name);
    if (oid === undefined || !this.admin) return;
    this.held.delete(name);
    if (this.options.keepReleased) return; // its lock ends with this session; the sandbox with it
    try {
      await (this.dropper ?? this.admin).query(`drop database if exists ${name} with (force)`);
    } catch {
      // left for the next pool's cleanup: its lock ends with this session
    }
    await this.admin.query('select pg_advisory_unlock($1)', [dbLock(oid).toString()]).catch(() => {});
  }

  private async start(): Promise<void> {
    const adminUrl = urlFor(this.options.url, 'postgres');
    try {
      this.admin = await Connection.open(adminUrl);
      // the pool stays under max_connections: with little room left it works on one connection
      // (takes then wait for a clone in progress), leaving the rest to the tests
      const free = await freeConnections(this.admin);
      const own = free >= ROOM_FOR_OWN_CONNECTIONS;
      this.filler = own ? await Connection.open(adminUrl) : this.admin;
      this.dropper = own ? await Connection.open(adminUrl) : this.admin;
      // clones at once only with room for their connections as well as the tests'
      const more = Math.max(0, Math.floor(this.options.refill ?? 1) - 1);
      if (own && more > 0 && free - 2 - more >= ROOM_FOR_OWN_CONNECTIONS)
        this.fillers = await Promise.all(Array.from({ length: more }, () => Connection.open(adminUrl)));
      await this.dropOrphans();
      await this.buildTemplate();
    } catch (error) {
      await Promise.all(this.connections().map((c) => c.close()));
      this.admin = this.filler = this.dropper = undefined;
      throw error;
    }
    this.refill();
  }

  /** Drop the used databases whose holder is gone (a crashed or killed test process). */
  private async dropOrphans(): Promise<void> {
    const admin = this.admin!;
    const used = await admin.query<{ oid: string; datname: string }>(
      'select oid::bigint::text as oid, datname from pg_database where datname like $1',
      [names.usedPattern],
    );
    for (const row of used) {
      const key = dbLock(row.oid).toString();
      const { ok } = await admin.one<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [key]);
      if (!ok) continue; // its holder is alive
      try {
        await admin.query(`drop database if exists ${row.datname} with (force)`);
      } finally {
        await admin.query('select pg_advisory_unlock($1)', [key]);
      }
    }
  }

  /** Build the template once per hash (whichever process gets the lock first). */
  private async buildTemplate(): Promise<void> {
    const { hash, url, setup } = this.options;
    const filler = this.filler!;
    const template = names.template(hash);
    const building = names.building(hash);
    await filler.query('select pg_advisory_lock($1, hashtext($2))', [LOCK.template, hash]);
    try {
      const exists = await filler.query('select 1 from pg_database where datname = $1', [template]);
      if (exists.length > 0) return;
      await filler.query(`drop database if exists ${building} with (force)`);
      const source = databaseOf(url);
      if (setup) {
        await filler.query(`create database ${building}`);
        await setup(urlFor(url, building));
      } else {
        try {
          // PostgreSQL itself waits 5 s for them to go before it gives up: fail at once instead
          const { n } = await filler.one<{ n: number }>(
            'select count(*)::int as n from pg_stat_activity where datname = $1',
            [source],
          );
          if (n > 0) throw Object.assign(new Error(`${n} other connections to ${source}`), { code: '55006' });
          await filler.query(`create database ${building} template "${source.replace(/"/g, '""')}"`);
        } catch (error) {
          throw new SeedforkError(
            sqlState(error) === '55006'
              ? `cannot clone database ${source} into the template: other connections to it are open`
              : `cannot clone database ${source} at ${redact(url)} into the template: ${(error as Error).message}`,
            {
              hint:
                sqlState(error) === '55006'
                  ? 'Take the first test database before the app under test connects (the template is built once, then never again for this hash), or pass setup to build the template from migrations.'
                  : 'Check that the database exists and the user may create databases (CREATEDB).',
              cause: error,
            },
          );
        }
      }
      try {
        await filler.query(`alter database ${building} rename to ${template}`);
      } catch (error) {
        throw new SeedforkError(`cannot finish the template ${template}: ${(error as Error).message}`, {
          hint: 'setup must close every connection it opened to the template database before it returns.',
          cause: error,
        });
      }
      await filler.query(`alter database ${template} with is_template true allow_connections false`);
    } finally {
      await filler
        .query('select pg_advisory_unlock($1, hashtext($2))', [LOCK.template, hash])
        .catch(() => {});
    }
  }

  /** Start a background refill unless one runs; its error is thrown by the next take that needs it. */
  private refill(): void {
    if (this.filling || !this.filler) return;
    this.filling = this.fill()
      .then(
        () => {
          this.fillError = undefined;
        },
        (error) => {
          this.fillError = error;
        },
      )
      .finally(() => {
        this.filling = undefined;
      });
  }

  /**
   * Top the pool up to `size` fresh databases, and keep cloning while takes of this process
   * wait, unless another process is refilling (then it serves them); `refill` clones at once,
   * one per refill connection.
   */
  private async fill(): Promise<void> {
    const filler = this.filler!;
    const { hash, size } = this.options;
    const { ok } = await filler.one<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [
      LOCK.fill,
      hash,
    ]);
    if (!ok) return;
    const lane = async (connection: Connection): Promise<void> => {
      for (;;) {
        const { n } = await connection.one<{ n: number }>(
          'select count(*)::int as n from pg_database where datname like $1',
          [names.freshPattern(hash)],
        );
        // those under way count: they will be fresh
        const coming = n + this.cloning;
        if (!this.filler || (coming >= size && coming >= this.wanted)) return;
        this.cloning++;
        try {
          await this.clone(connection);
        } finally {
          this.cloning--;
        }
        this.listed = []; // list again, the new clone included
        for (const wake of this.wake.splice(0)) wake();
      }
    };
    try {
      const lanes = await Promise.allSettled([filler, ...this.fillers].map(lane));
      const failed = lanes.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      await filler.query('select pg_advisory_unlock($1, hashtext($2))', [LOCK.fill, hash]).catch(() => {});
    }
  }

  /** One fresh clone of the template, made on `connection`. */
  private async clone(connection: Connection): Promise<void> {
    const { hash } = this.options;
    const strategy = this.nextStrategy();
    const started = performance.now();
    await connection.query(
      `create database ${names.fresh(hash, names.newId())} template ${names.template(hash)} strategy ${strategy}`,
    );
    if (this.options.strategy === 'auto') this.timed[strategy] ??= performance.now() - started;
  }

  /** The strategy of the next clone: the configured one; with `auto`, each once, then the faster. */
  private nextStrategy(): 'file_copy' | 'wal_log' {
    if (this.options.strategy !== 'auto') return this.options.strategy;
    const { file_copy, wal_log } = this.timed;
    if (file_copy === undefined) return 'file_copy';
    if (wal_log === undefined) return 'wal_log';
    return file_copy <= wal_log ? 'file_copy' : 'wal_log';
  }
}
