/**
 * Test database benchmark (issue #13). Measured in one run, each including the client's connect
 * and a `select 1`:
 *   1. a fresh database from the template pool (`testDatabase`), at a sustained 50 tests per
 *      second (open loop: test k starts at k × 20 ms whether or not earlier ones are done; each
 *      holds its database 10 ms, then releases it), from a pool that starts empty;
 *   2. `CREATE DATABASE … TEMPLATE` without a pool, each strategy;
 *   3. a rollback fixture's per test cost (`withRollback` on a worker's connection: BEGIN,
 *      the test's statement, ROLLBACK), and the same with a connection per test;
 *   4. inside a sandbox, with N = 0, 32 and 128 databases cloned at seed time (config `pool`):
 *      the snapshot's size, a fork with its PostgreSQL ready, and testDatabase() + connect at 5
 *      and 50 tests per second (30 tests, a test file's worth; with 128, also 120 tests), beside
 *      the floor of a connection to a database that exists, from Node's `pg` and from libpq
 *      (`pgbench -C`, PostgreSQL's client package).
 * Also the floor (a connection to a database that exists) and the pool at 5 tests per second;
 * at 50 a second, the refill making 1, 2 and 4 clones at once (`refill`).
 * Goal: a pooled database, connected, under 5 ms p50 at 50 tests per second (IntegreSQL reports
 * about 70 ms per test database, pgtestdb about 10 ms). PostgreSQL runs on the host with
 * fsync off, as in sandboxes. Needs root (PostgreSQL runs as the postgres account; sandboxes).
 * Run with `npm run bench:test-db`.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseConfig } from '../src/config/load.js';
import { diskUsage } from '../src/fs/disk-space.js';
import { urlFor } from '../src/pg/names.js';
import { withRollback } from '../src/pg/rollback.js';
import { closeTestDatabases, testDatabase } from '../src/pg/test-database.js';
import { sandboxEnvironment, type TestEnvironment } from '../src/run/environment.js';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { expectHostClean, hostState } from '../test/support/host.js';
import { startHostPostgres } from '../test/support/postgres.js';

const REPO = resolve(import.meta.dirname, '..');

/** The seed of the sandboxes' database: one table of 1,000 rows, as on the host. */
const SEED_STEP = `psql -Xqc "create table accounts (id serial primary key, name text not null); insert into accounts (name) select 'user ' || g from generate_series(1, 1000) g"`;

/**
 * Run inside a sandbox (argv: rate, tests): the pool is started by a first take (timed apart:
 * a test file pays it once), then tests start at \`rate\` a second whatever earlier ones do, each
 * taking a database, connecting, holding it 10 ms and releasing it; prints the latencies as JSON.
 */
const INNER = `import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeTestDatabases, testDatabase } from '${join(REPO, 'dist/pg/index.js')}';
const [rate, tests] = process.argv.slice(2).map(Number);
const connect = async (url) => { const c = new pg.Client(url); await c.connect(); await c.query('select 1'); return c; };
const floor = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  await (await connect(process.env.DATABASE_URL)).end();
  floor.push(performance.now() - t);
}
let t = performance.now();
await (await testDatabase()).release();
const startMs = performance.now() - t;
const latencies = [];
const takes = [];
const started = performance.now();
await Promise.all(Array.from({ length: tests }, async (_, k) => {
  await sleep(Math.max(0, started + (k * 1000) / rate - performance.now()));
  const t = performance.now();
  const db = await testDatabase();
  takes.push(performance.now() - t);
  const client = await connect(db.url);
  latencies.push(performance.now() - t);
  await sleep(10);
  await client.end();
  await db.release();
}));
await closeTestDatabases();
console.log(JSON.stringify({ latencies, takes, floor, startMs }));
`;
const RATE_PER_S = 50;
const TESTS = 150;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function row(label: string, xs: number[], note = ''): void {
  console.log(
    `${label.padEnd(62)} p50 ${quantile(xs, 0.5).toFixed(1).padStart(7)} ms   p99 ${quantile(xs, 0.99).toFixed(1).padStart(7)} ms   (${xs.length} samples)${note ? `  ${note}` : ''}`,
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
    // the goal's rate with the refill making 1, 2 and 4 clones at once (issue 26: parallel
    // refill where the server has idle cores)
    for (const [rate, tests, refill] of [
      [5, 40, 1],
      [RATE_PER_S, TESTS, 1],
      [RATE_PER_S, TESTS, 2],
      [RATE_PER_S, TESTS, 4],
    ] as const) {
      const options = { url: app, template: { seed: `bench at ${rate}/s, refill ${refill}` }, refill };
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
        `pool: testDatabase() + connect, ${rate} tests/s, refill ${refill}`,
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

    // 4. inside a sandbox: the databases cloned at seed time (config pool: N) and frozen in the
    // snapshot; per N, the snapshot's size, the fork (with its PostgreSQL ready), and the take
    // + connect of a test file's tests at 5 and 50 a second, measured by a script in the sandbox
    const root = join(REPO, 'test-output', 'bench-test-db');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'inner.mjs'), INNER);
    writeFileSync(join(root, 'select1.sql'), 'select 1;\n');
    const state = join(REPO, 'test-output', 'bench-test-db-state');
    rmSync(state, { recursive: true, force: true }); // each snapshot seeded in this run, timed
    const backend = new NamespaceBackend(state);
    console.log('');
    // seed the three snapshots, then fork them in turn (30 each), so that drift in the
    // machine's speed falls on all three alike
    const environments: { pool: number; environment: TestEnvironment }[] = [];
    for (const pool of [0, 32, 128]) {
      const loaded = {
        config: parseConfig({
          seed: {
            services: { postgres: { port: 5432, database: 'app', pool } },
            steps: [SEED_STEP],
          },
          test: { include: ['x'] },
        }),
        file: join(root, 'seedfork.config.json'),
        root,
      };
      const seeding = performance.now();
      const environment = await sandboxEnvironment(backend, {
        loaded,
        baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
      const seedMs = performance.now() - seeding;
      const layer = environment.layers?.[0];
      const size = layer ? diskUsage(layer) : Number.NaN;
      console.log(
        `pool ${String(pool).padStart(3)}: snapshot ${(size / 1024 ** 2).toFixed(0)} MiB, seeded in ${(seedMs / 1000).toFixed(1)} s`,
      );
      environments.push({ pool, environment });
    }
    const forks = new Map<number, number[]>(environments.map((e) => [e.pool, []]));
    for (let i = 0; i < 32; i++)
      for (const { pool, environment } of environments) {
        const t = performance.now();
        const lease = await environment.acquire();
        if (i >= 2) forks.get(pool)!.push(performance.now() - t);
        await lease.release(false);
      }
    for (const { pool } of environments) row(`fork + its PostgreSQL ready, pool ${pool}`, forks.get(pool)!);
    for (const { pool, environment } of environments) {
      console.log(`pool ${pool}:`);
      try {
        for (const [rate, tests] of [
          [5, 30],
          [RATE_PER_S, 30],
          ...(pool >= 128 ? [[RATE_PER_S, 120] as const] : []),
        ] as const) {
          const lease = await environment.acquire();
          const r = await lease.sandbox.exec(['node', join(root, 'inner.mjs'), String(rate), String(tests)], {
            env: lease.env,
            cwd: root,
            timeoutMs: 300_000,
          });
          // the same floor from a C client: libpq's connection, without Node's
          const c = await lease.sandbox.exec(
            ['pgbench', '-n', '-C', '-f', join(root, 'select1.sql'), '-t', '200', lease.env.DATABASE_URL!],
            { env: lease.env, cwd: root, timeoutMs: 60_000 },
          );
          await lease.release(false);
          const line = r.output.split('\n').find((l) => l.startsWith('{'));
          if (r.exitCode !== 0 || !line) throw new Error(`the sandbox's bench failed: ${r.output}`);
          const { latencies, takes, floor, startMs } = JSON.parse(line) as Record<
            'latencies' | 'takes' | 'floor',
            number[]
          > & {
            startMs: number;
          };
          const p50 = quantile(latencies, 0.5);
          row(
            `  in a sandbox: testDatabase() + connect, ${rate}/s`,
            latencies,
            `pool start ${startMs.toFixed(0)} ms${rate === RATE_PER_S ? `; goal p50 < 5 ms: ${p50 < 5 ? 'met' : 'MISSED'}` : ''}`,
          );
          row('    of which the take (lock, rename)', takes);
          row('    floor: connect + select 1 to an existing database', floor);
          const libpq = /average connection time = ([\d.]+) ms/.exec(c.output)?.[1];
          console.log(
            `${'    the same from C (pgbench -C, 200 connections): average'.padEnd(62)} ${libpq ? `${Number(libpq).toFixed(1).padStart(11)} ms` : `failed: ${c.output.trim().split('\n').pop()}`}`,
          );
        }
      } finally {
        await environment.close();
      }
    }
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
