/**
 * Test database benchmark (issue #13). Measured in one run, each including the client's connect
 * and a `select 1`:
 *   1. a fresh database from the template pool (`testDatabase`), at a sustained 50 tests per
 *      second (open loop: test k starts at k × 20 ms whether or not earlier ones are done; each
 *      holds its database 10 ms, then releases it), from a pool that starts empty;
 *   2. `CREATE DATABASE … TEMPLATE` without a pool, each strategy;
 *   3. a rollback fixture's per test cost (`withRollback` on a worker's connection: BEGIN,
 *      the test's statement, ROLLBACK), and the same with a connection per test;
 *   4. a sandbox fork with its own PostgreSQL ready, then `psql -c 'select 1'` inside it.
 * Also the floor (a connection to a database that exists) and the pool at 5 tests per second.
 * Goal: a pooled database, connected, under 5 ms p50 at 50 tests per second (IntegreSQL reports
 * about 70 ms per test database, pgtestdb about 10 ms). PostgreSQL runs on the host with
 * fsync off, as in sandboxes. Needs root (PostgreSQL runs as the postgres account; sandboxes).
 * Run with `npm run bench:test-db`.
 */
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseConfig } from '../src/config/load.js';
import { urlFor } from '../src/pg/names.js';
import { withRollback } from '../src/pg/rollback.js';
import { closeTestDatabases, testDatabase } from '../src/pg/test-database.js';
import { sandboxEnvironment } from '../src/run/environment.js';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { findPostgresBin } from '../src/seed/services/postgres.js';
import { expectHostClean, hostState } from '../test/support/host.js';
import { startHostPostgres } from '../test/support/postgres.js';

const REPO = resolve(import.meta.dirname, '..');
const RATE_PER_S = 50;
const TESTS = 150;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function row(label: string, xs: number[], note = ''): void {
  console.log(
    `${label.padEnd(52)} p50 ${quantile(xs, 0.5).toFixed(1).padStart(7)} ms   p99 ${quantile(xs, 0.99).toFixed(1).padStart(7)} ms   (${xs.length} samples)${note ? `  ${note}` : ''}`,
  );
}

async function connectAndSelect(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  client.on('error', () => {});
  await client.connect();
  await client.query('select 1');
  return client;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error(
      'bench/test-db.ts needs root: PostgreSQL runs as the postgres account, sandboxes need namespaces',
    );
    process.exit(2);
  }
  const before = hostState();
  const server = startHostPostgres(11);
  try {
    const admin = new pg.Client(server.url);
    await admin.connect();
    await admin.query('create database app');
    const app = urlFor(server.url, 'app');
    const seed = await connectAndSelect(app);
    await seed.query('create table accounts (id serial primary key, name text not null)');
    await seed.query("insert into accounts (name) select 'user ' || g from generate_series(1, 1000) g");
    await seed.end();
    console.log(`PostgreSQL on the host (fsync off); the seeded database: 1 table, 1,000 rows\n`);

    // 0. the floor: a connection to a database that exists
    const connects: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      const client = await connectAndSelect(app);
      connects.push(performance.now() - t);
      await client.end();
    }
    row('baseline: connect + select 1 to an existing database', connects);

    // 2. CREATE DATABASE … TEMPLATE without a pool
    await admin.query('create database plain_tpl template app');
    for (const strategy of ['file_copy', 'wal_log']) {
      const xs: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t = performance.now();
        await admin.query(`create database plain_${strategy}_${i} template plain_tpl strategy ${strategy}`);
        const client = await connectAndSelect(urlFor(server.url, `plain_${strategy}_${i}`));
        xs.push(performance.now() - t);
        await client.end();
        await admin.query(`drop database plain_${strategy}_${i}`);
      }
      row(`CREATE DATABASE … TEMPLATE (${strategy}) + connect`, xs);
    }

    // 1. the pool at a sustained rate, from empty: one the server keeps up with, then the goal's
    // (in this order: the goal's rate leaves the server clearing a backlog of clones and drops)
    for (const [rate, tests] of [
      [5, 40],
      [RATE_PER_S, TESTS],
    ] as const) {
      const options = { url: app, template: { seed: `bench at ${rate}/s` } };
      const latencies: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: tests }, async (_, k) => {
          await sleep(Math.max(0, started + (k * 1000) / rate - performance.now()));
          const t = performance.now();
          const db = await testDatabase(options);
          const client = await connectAndSelect(db.url);
          latencies.push(performance.now() - t);
          await sleep(10);
          await client.end();
          await db.release();
        }),
      );
      const wall = (performance.now() - started) / 1000;
      const p50 = quantile(latencies, 0.5);
      row(
        `pool: testDatabase() + connect, ${rate} tests/s`,
        latencies,
        `${rate === RATE_PER_S ? `goal p50 < 5 ms: ${p50 < 5 ? 'met' : 'MISSED'}; ` : ''}${tests} tests took ${wall.toFixed(1)} s (${(tests / wall).toFixed(1)}/s served)`,
      );
      await closeTestDatabases();
    }

    // 3. the rollback fixture
    const worker = await connectAndSelect(app);
    const shared: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await withRollback(worker, async (tx) => {
        await tx.query("insert into accounts (name) values ('in a test')");
      });
      shared.push(performance.now() - t);
    }
    await worker.end();
    row("withRollback on the worker's connection (per test)", shared);
    const own: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const client = await connectAndSelect(app);
      await withRollback(client, async (tx) => {
        await tx.query("insert into accounts (name) values ('in a test')");
      });
      await client.end();
      own.push(performance.now() - t);
    }
    row('withRollback with a connection per test', own);
    await admin.end();

    // 4. a sandbox fork with its own PostgreSQL
    const pgConfig = { port: 5432, database: 'app' };
    const loaded = {
      config: parseConfig({ seed: { services: { postgres: pgConfig } }, test: { include: ['x'] } }),
      file: join(REPO, 'test-output', 'bench-test-db', 'seedfork.config.json'),
      root: join(REPO, 'test-output', 'bench-test-db'),
    };
    const psql = join(findPostgresBin(loaded.config.seed.services.postgres as never), 'psql');
    const backend = new NamespaceBackend(join(REPO, 'test-output', 'bench-test-db-state'));
    const environment = await sandboxEnvironment(backend, {
      loaded,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const forks: number[] = [];
    try {
      for (let i = 0; i < 17; i++) {
        const t = performance.now();
        const lease = await environment.acquire();
        const r = await lease.sandbox.exec([psql, lease.serviceUrls.postgres!, '-Xqtc', 'select 1'], {
          env: lease.env,
        });
        if (r.exitCode !== 0) throw new Error(`psql in the sandbox failed: ${r.output}`);
        if (i >= 2) forks.push(performance.now() - t);
        await lease.release(false);
      }
    } finally {
      await environment.close();
    }
    row('sandbox fork + its PostgreSQL ready + psql select 1', forks);
  } finally {
    await closeTestDatabases();
    server.stop();
  }
  await expectHostClean(before);
  console.log(
    '\nhost clean after the bench: no sandbox processes, mounts, cgroups or network namespaces left',
  );
}

await main();
