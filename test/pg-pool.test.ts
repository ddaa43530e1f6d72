import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { names, urlFor } from '../src/pg/names.js';
import { withRollback } from '../src/pg/rollback.js';
import { TemplatePool } from '../src/pg/template-pool.js';
import { closeTestDatabases, poolFor, testDatabase } from '../src/pg/test-database.js';
import { isRoot } from './support/host.js';
import { type HostPostgres, startHostPostgres } from './support/postgres.js';
import { REPO } from './support/project.js';

const run = promisify(execFile);
const TAKER = join(REPO, 'test/support/pg-taker.mts');

if (!isRoot)
  console.log(
    'skipping the template pool tests: they start PostgreSQL as the postgres account, which needs root',
  );

describe.skipIf(!isRoot)('the template database pool (seedfork/pg) against a plain PostgreSQL', () => {
  let server: HostPostgres;
  let shop = '';
  let admin: pg.Client;
  const options = () => ({ url: shop, template: { seed: 'pg-pool-test' }, poolSize: 3 });

  const databases = async (like: string) =>
    (
      await admin.query<{ datname: string }>('select datname from pg_database where datname like $1', [like])
    ).rows.map((r) => r.datname);
  const rows = async (url: string) => {
    const c = new pg.Client(url);
    await c.connect();
    try {
      return (await c.query<{ name: string }>('select name from accounts order by id')).rows.map(
        (r) => r.name,
      );
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    server = startHostPostgres(1);
    admin = new pg.Client(server.url);
    await admin.connect();
    await admin.query('create database shop');
    shop = urlFor(server.url, 'shop');
    const seed = new pg.Client(shop);
    await seed.connect();
    await seed.query('create table accounts (id serial primary key, name text unique not null)');
    await seed.query("insert into accounts (name) values ('ada'), ('grace')");
    await seed.end();
  });

  afterAll(async () => {
    await closeTestDatabases();
    await admin?.end();
    server?.stop();
  });

  test('hands out a clone of the seeded database, its own, and drops it on release', async () => {
    const a = await testDatabase(options());
    const b = await testDatabase(options());
    expect(a.name).not.toBe(b.name);
    expect(a.name).toMatch(/^sfused_[0-9a-f]{16}_[0-9a-f]{12}$/);
    expect(await rows(a.url)).toEqual(['ada', 'grace']);
    const c = new pg.Client(a.url);
    c.on('error', () => {}); // release terminates it
    await c.connect();
    await c.query("insert into accounts (name) values ('only in a')");
    // b and the seeded database do not see a's row
    expect(await rows(b.url)).toEqual(['ada', 'grace']);
    expect(await rows(shop)).toEqual(['ada', 'grace']);
    // release drops it even with a connection still open
    await a.release();
    await a.release();
    await c.end().catch(() => {});
    expect(await databases(a.name)).toEqual([]);
    await b.release();
    // the pool refills in the background to its size
    await expect.poll(() => databases('sfpool\\_%'), { timeout: 10_000 }).toHaveLength(3);
    expect(await databases('sftpl\\_%')).toHaveLength(1);
  });

  test('the refill makes `refill` clones at once, each on its own connection, and stops at the pool size', async () => {
    // the most CREATE DATABASE statements of the pool's running at one time while it fills
    const mostAtOnce = async (refill: number, hash: string) => {
      const pool = new TemplatePool({ url: shop, hash, size: 16, strategy: 'file_copy', refill });
      let most = 0;
      const fresh = () => databases(names.freshPattern(hash));
      await pool.ready;
      while ((await fresh()).length < 16) {
        const { rows } = await admin.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where application_name = 'seedfork-pg-pool' and state = 'active' and query ilike 'create database%'",
        );
        most = Math.max(most, rows[0]!.n);
      }
      // the clones under way when the count was reached finish: at most refill - 1 beyond it
      await new Promise((r) => setTimeout(r, 300));
      const made = (await fresh()).length;
      await pool.close();
      for (const name of await fresh()) await admin.query(`drop database ${name}`);
      await admin.query(`alter database ${names.template(hash)} is_template false`);
      await admin.query(`drop database if exists ${names.template(hash)}`);
      return { most, made };
    };
    const one = await mostAtOnce(1, 'ab12ab12ab12ab12');
    expect(one).toEqual({ most: 1, made: 16 });
    const three = await mostAtOnce(3, 'cd34cd34cd34cd34');
    expect(three.most).toBeGreaterThanOrEqual(2);
    expect(three.most).toBeLessThanOrEqual(3);
    expect(three.made).toBeGreaterThanOrEqual(16);
    expect(three.made).toBeLessThanOrEqual(18);
  });

  test('two processes share one pool and never get the same database; theirs are dropped when they exit', async () => {
    const take = () =>
      run('node', ['--import', 'tsx', TAKER, shop, 'take', '6'], { cwd: REPO }).then((r) =>
        r.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { name: string }).name),
      );
    const [first, second] = await Promise.all([take(), take()]);
    expect(first).toHaveLength(6);
    expect(second).toHaveLength(6);
    expect(new Set([...first!, ...second!]).size).toBe(12);
    // each process dropped what it held as it ended
    expect(await databases('sfused\\_%')).toEqual([]);
  });

  test('a database whose test process was killed mid-use is dropped by the next pool, never handed out', async () => {
    const crashed = await run('node', ['--import', 'tsx', TAKER, shop, 'crash'], { cwd: REPO }).then(
      () => undefined,
      (e: { stdout: string; signal?: string }) => {
        expect(e.signal).toBe('SIGKILL');
        return (JSON.parse(e.stdout.trim()) as { name: string }).name;
      },
    );
    expect(crashed).toMatch(/^sfused_/);
    expect(await databases(crashed!)).toEqual([crashed]);
    // a pool starting afresh (here: this process's, closed and reopened) reaps it
    await closeTestDatabases();
    const next = await testDatabase(options());
    expect(await databases(crashed!)).toEqual([]);
    expect(next.name).not.toBe(crashed);
    expect(await rows(next.url)).toEqual(['ada', 'grace']);
    await next.release();
  });

  test('withRollback leaves the seeded data as it was, the code under test committing as it likes', async () => {
    const db = await testDatabase(options());
    const client = new pg.Client(db.url);
    await client.connect();
    try {
      const inside = await withRollback(client, async (tx) => {
        await tx.query("insert into accounts (name) values ('in the test')");
        // app code with transactions of its own: the inner rollback undoes only its own insert
        await tx.query('BEGIN');
        await tx.query("insert into accounts (name) values ('committed by the app')");
        await tx.query('COMMIT');
        await tx.query('begin');
        await tx.query("insert into accounts (name) values ('rolled back by the app')");
        await tx.query('rollback');
        await tx.query({ text: 'COMMIT' }); // a commit with no begin of its own: ignored
        return (await tx.query<{ name: string }>('select name from accounts order by id')).rows.map(
          (r) => r.name,
        );
      });
      expect(inside).toEqual(['ada', 'grace', 'in the test', 'committed by the app']);
      expect((await client.query('select name from accounts order by id')).rows.map((r) => r.name)).toEqual([
        'ada',
        'grace',
      ]);
      // an error inside still rolls back, and the error comes out
      await expect(
        withRollback(client, async (tx) => {
          await tx.query("insert into accounts (name) values ('before the error')");
          await tx.query("insert into accounts (name) values ('ada')"); // unique violation
        }),
      ).rejects.toThrow(/duplicate key/);
      expect((await client.query('select count(*)::int as n from accounts')).rows[0].n).toBe(2);
    } finally {
      await client.end();
      await db.release();
    }
  });

  test('a template built by setup from migrations, and the errors that say what to do', async () => {
    const migrated = await testDatabase({
      url: server.url,
      template: { seed: 'migrations v1' },
      poolSize: 1,
      setup: async (url) => {
        const c = new pg.Client(url);
        await c.connect();
        await c.query('create table notes (body text)');
        await c.query("insert into notes values ('from the migration')");
        await c.end();
      },
    });
    const c = new pg.Client(migrated.url);
    await c.connect();
    expect((await c.query('select body from notes')).rows).toEqual([{ body: 'from the migration' }]);
    await c.end();
    await migrated.release();

    // cloning a database somebody is connected to cannot work: say so, and how to avoid it
    const busy = new pg.Client(shop);
    await busy.connect();
    try {
      await expect(
        testDatabase({ ...options(), template: { seed: 'another template' } }),
      ).rejects.toMatchObject({
        message: expect.stringMatching(
          /cannot clone database shop into the template: other connections to it are open/,
        ),
        hint: expect.stringMatching(/before the app under test connects/),
      });
    } finally {
      await busy.end();
    }
    expect(() => poolFor({ url: shop })).toThrow(
      /cannot tell which template to use outside a seedfork sandbox/,
    );
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      expect(() => poolFor({ template: { seed: 'x' } })).toThrow(/DATABASE_URL is not set/);
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
    await expect(
      testDatabase({ url: 'postgres://postgres@127.0.0.1:1/x', template: { seed: 'x' } }),
    ).rejects.toThrow(
      /cannot connect to PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres: connect ECONNREFUSED/,
    );
  });
});

describe.skipIf(!isRoot)('the template database pool under max_connections', () => {
  let server: HostPostgres;
  const others: pg.Client[] = [];
  const connect = async (url: string) => {
    const c = new pg.Client(url);
    await c.connect();
    others.push(c);
    return c;
  };
  const poolConnections = async (admin: pg.Client) =>
    (
      await admin.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = 'seedfork-pg-pool'",
      )
    ).rows[0]!.n;

  beforeAll(async () => {
    // 10 connections, 3 of them for superusers: 7 for the tests and the pool
    server = startHostPostgres(2, { max_connections: 10, superuser_reserved_connections: 3 });
    const admin = await connect(server.url);
    await admin.query('create database small');
  });
  afterAll(async () => {
    await Promise.all(others.splice(0).map((c) => c.end().catch(() => {})));
    server?.stop();
  });

  test('with little room left it works on one connection; with none it says what to do', async () => {
    const admin = others[0]!;
    const url = urlFor(server.url, 'small');
    // refill 4 asks for clones at once: no room for their connections either
    const pool = new TemplatePool({
      url,
      hash: 'c0ffee00c0ffee00',
      size: 2,
      strategy: 'file_copy',
      refill: 4,
    });
    const taken = [await pool.take(), await pool.take(), await pool.take()];
    expect(new Set(taken.map((d) => d.name)).size).toBe(3);
    expect(await poolConnections(admin)).toBe(1);
    for (const db of taken) await db.release();
    await pool.close();
    expect(await poolConnections(admin)).toBe(0);

    // every connection taken (superusers may use the reserved ones too)
    for (;;) {
      try {
        await connect(server.url);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('53300');
        break;
      }
    }
    const full = new TemplatePool({ url, hash: 'c0ffee00c0ffee01', size: 2, strategy: 'file_copy' });
    await expect(full.ready).rejects.toThrow(/has no connection left for the template pool/);
    await expect(full.take()).rejects.toMatchObject({ hint: expect.stringMatching(/fewer workers/) });
    await full.close();
  });
});
