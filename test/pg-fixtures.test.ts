import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { globSync } from 'tinyglobby';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject, REPO } from './support/project.js';

/** The seeded row every test bumps: in a shared database the second bump would read 2. */
const SEED = `psql "$DATABASE_URL" -Xqc 'create table counters (id int primary key, n int not null); insert into counters values (1, 0)'`;

const config = (runner: string, include: string) =>
  `export default {
  seed: { services: { postgres: { port: 5432, database: 'shop' } }, steps: [${JSON.stringify(SEED)}] },
  test: { include: [${JSON.stringify(include)}], runner: '${runner}', timeoutMs: 60_000 },
};
`;

/** Checks, after the file's tests, that each pair of tests ran at the same time. */
const OVERLAP = `
const spans = { db: [], tx: [] };
function overlapped() {
  for (const [kind, [a, b]] of Object.entries(spans)) {
    if (!a || !b) throw new Error(kind + ': a test did not record its span');
    if (!(a.start < b.end && b.start < a.end)) throw new Error(kind + ': the two tests did not overlap in time');
  }
}
async function bumpTwice(client, kind) {
  const start = Date.now();
  const first = await client.query('update counters set n = n + 1 where id = 1 returning n');
  if (first.rows[0].n !== 1) throw new Error(kind + ': the row was already bumped: ' + first.rows[0].n);
  await new Promise((r) => setTimeout(r, 300));
  const again = await client.query('select n from counters where id = 1');
  if (again.rows[0].n !== 1) throw new Error(kind + ': another test bumped the row: ' + again.rows[0].n);
  spans[kind].push({ start, end: Date.now() });
}
`;

const NODE_TEST = `import { after, describe, test } from 'node:test';
import pg from 'pg';
import { rollbackFor, testDatabaseFor } from 'seedfork/node-test';
${OVERLAP}
after(overlapped);
// the databases first: cloning the seeded database needs nobody connected to it
describe('a database per test', { concurrency: true }, () => {
  for (const name of ['first', 'second'])
    test(name, async (t) => {
      const db = await testDatabaseFor(t);
      const client = new pg.Client(db.url);
      await client.connect();
      await bumpTwice(client, 'db');
      await client.end();
    });
});
describe('a rolled-back transaction per test', { concurrency: true }, () => {
  for (const name of ['first', 'second'])
    test(name, async (t) => {
      const client = new pg.Client(process.env.DATABASE_URL);
      await client.connect();
      const tx = await rollbackFor(t, client);
      t.after(() => client.end());
      await bumpTwice(tx, 'tx');
    });
});
`;

const VITEST = `import { afterAll, describe, test as base } from 'vitest';
import pg from 'pg';
import { databaseFixtures } from 'seedfork/vitest';
${OVERLAP}
const test = base.extend(databaseFixtures());
afterAll(overlapped);
describe('a database per test', () => {
  for (const name of ['first', 'second'])
    test.concurrent(name, async ({ db }) => {
      const client = new pg.Client(db.url);
      await client.connect();
      await bumpTwice(client, 'db');
      await client.end();
    });
});
describe('a rolled-back transaction per test', () => {
  for (const name of ['first', 'second']) test.concurrent(name, async ({ tx }) => bumpTwice(tx, 'tx'));
});
`;

const JEST = `import pg from 'pg';
import { databasePerTest, withTestDatabase } from 'seedfork/jest';
import { withRollback } from 'seedfork/pg';
${OVERLAP}
afterAll(overlapped);
describe('a database per test', () => {
  for (const name of ['first', 'second'])
    test.concurrent(name, () =>
      withTestDatabase(async (db) => {
        const client = new pg.Client(db.url);
        await client.connect();
        await bumpTwice(client, 'db');
        await client.end();
      }),
    );
});
describe('the same through hooks, one test after another', () => {
  const db = databasePerTest();
  for (const name of ['first', 'second'])
    test(name, async () => {
      const client = new pg.Client(db.current.url);
      await client.connect();
      const { rows } = await client.query('update counters set n = n + 1 where id = 1 returning n');
      await client.end();
      expect(rows[0].n).toBe(1);
    });
});
describe('a rolled-back transaction per test', () => {
  for (const name of ['first', 'second'])
    test.concurrent(name, async () => {
      const client = new pg.Client(process.env.DATABASE_URL);
      await client.connect();
      try {
        await withRollback(client, (tx) => bumpTwice(tx, 'tx'));
      } finally {
        await client.end();
      }
    });
});
`;

const PROJECTS: { runner: string; files: Record<string, string> }[] = [
  { runner: 'node', files: { 'test/counter.test.js': NODE_TEST } },
  {
    runner: 'vitest',
    files: {
      'test/counter.test.js': VITEST,
      'vitest.config.mjs': "export default { test: { include: ['test/*.test.js'] } };\n",
    },
  },
  {
    runner: 'jest',
    files: {
      'test/counter.test.js': JEST,
      'jest.config.mjs':
        "export default { testEnvironment: 'node', transform: {}, testMatch: ['**/test/**/*.test.js'] };\n",
    },
  },
];

if (!isRoot) console.log('skipping the database fixture tests: sandboxes need root');

describe.skipIf(!isRoot)('database fixtures inside a sandbox, on the real runners', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test.each(PROJECTS)(
    '$runner: each test gets its own database or rolled-back transaction, two at a time',
    async ({ runner, files }) => {
      const dir = makeProject(`pg-fixtures-${runner}`, {
        'package.json': JSON.stringify({ name: `pg-fixtures-${runner}`, private: true, type: 'module' }),
        'seedfork.config.mjs': config(runner, 'test/*.test.js'),
        ...files,
      });
      // the project imports seedfork by its package name, as a user's would
      mkdirSync(join(dir, 'node_modules'), { recursive: true });
      symlinkSync(REPO, join(dir, 'node_modules/seedfork'));
      const r = await runCli(dir, ['run']);
      const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
      const tests = result.files.flatMap((f) => f.tests);
      expect(r.code, `${r.out}\n${result.files.map((f) => f.output).join('\n')}`).toBe(0);
      expect(tests.filter((t) => t.status === 'passed').length).toBe(runner === 'jest' ? 6 : 4);
    },
    180_000,
  );

  test('databases cloned at seed time: every sandbox starts with `pool` of them, takes them first and clones none ahead; pool 0 clones none', async () => {
    const PRECLONED = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { lstatSync } from 'node:fs';
import { testDatabase } from 'seedfork/pg';
const query = async (sql) => {
  const c = new pg.Client(process.env.DATABASE_URL);
  await c.connect();
  const { rows } = await c.query(sql);
  await c.end();
  return rows;
};
const fresh = async () => {
  const c = new pg.Client(process.env.DATABASE_URL);
  await c.connect();
  const { rows } = await c.query("select datname from pg_database where datname like 'sfpool%' order by 1");
  await c.end();
  return rows.map((r) => r.datname.slice(r.datname.lastIndexOf('_') + 1));
};
test('the pool', async () => {
  const expected = Number(process.env.EXPECTED_POOL);
  const ready = await fresh();
  assert.equal(ready.length, expected);
  if (expected === 0) return assert.equal(process.env.SEEDFORK_PG_POOL_READY, undefined);
  assert.equal(process.env.SEEDFORK_PG_POOL_READY, process.env.SEEDFORK_SNAPSHOT_KEY.slice(0, 16));
  // the clones live in the pool tablespace, whose link (left out of the snapshot) is back
  const spaces = await query("select t.spcname, count(*)::int as n from pg_database d join pg_tablespace t on t.oid = d.dattablespace where d.datname like 'sfpool%' group by 1");
  assert.deepEqual(spaces, [{ spcname: 'seedfork_pool', n: expected }]);
  const [{ location }] = await query("select pg_tablespace_location(oid) as location from pg_tablespace where spcname = 'seedfork_pool'");
  assert.equal(location, '/var/lib/seedfork/services/postgres.pool-link');
  assert.ok(lstatSync(location).isSymbolicLink());
  const taken = [];
  for (let i = 0; i < expected; i++) taken.push(await testDatabase());
  assert.deepEqual(taken.map((d) => d.name.slice(d.name.lastIndexOf('_') + 1)).sort(), [...ready].sort());
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await fresh()).length, 0, 'nothing is cloned ahead while the seeded ones last');
  const more = await testDatabase(); // one more than the snapshot holds: cloned on demand
  assert.ok(!ready.includes(more.name.slice(more.name.lastIndexOf('_') + 1)));
  const c = new pg.Client(more.url);
  await c.connect();
  assert.equal((await c.query('select n from counters')).rows[0].n, 0);
  await c.end();
});
`;
    for (const pool of [3, 0]) {
      const dir = makeProject(`pg-precloned-${pool}`, {
        'package.json': JSON.stringify({ name: 'pg-precloned', private: true, type: 'module' }),
        'seedfork.config.mjs': `export default {
  seed: { services: { postgres: { port: 5432, database: 'shop', pool: ${pool} } }, steps: [${JSON.stringify(SEED)}] },
  test: { include: ['test/*.test.js'], runner: 'node', env: { EXPECTED_POOL: '${pool}' } },
};
`,
        'test/pool.test.js': PRECLONED,
      });
      mkdirSync(join(dir, 'node_modules'), { recursive: true });
      symlinkSync(REPO, join(dir, 'node_modules/seedfork'));
      const r = await runCli(dir, ['run']);
      const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
      expect(r.code, `${r.out}\n${result.files.map((f) => f.output).join('\n')}`).toBe(0);
      // the snapshot holds the data directory without its relation cache init files, which
      // PostgreSQL removes at every start (each removal in a fork an overlayfs whiteout)
      const layers = join(dir, '.seedfork/snapshots');
      const data = globSync('*/layer/**/services/postgres/base', { cwd: layers, onlyDirectories: true });
      expect(data.length, `no PostgreSQL data directory under ${layers}`).toBeGreaterThan(0);
      expect(globSync('*/layer/**/pg_internal.init', { cwd: layers })).toEqual([]);
      // the clones' directories are in the snapshot, the link to them is not: a fork's server
      // cannot list them when it starts (RemovePgTempFiles)
      const clones = globSync('*/layer/**/services/postgres.pool/PG_*/*', {
        cwd: layers,
        onlyDirectories: true,
      });
      expect(clones.length).toBe(pool);
      expect(globSync('*/layer/**/services/postgres.pool-link', { cwd: layers })).toEqual([]);
    }
  }, 180_000);

  test("pool 'auto' (the default) clones none for a suite that takes no test database, and 32 once a test takes one", async () => {
    const dir = makeProject('pg-auto-pool', {
      'package.json': JSON.stringify({ name: 'pg-auto-pool', private: true, type: 'module' }),
      'seedfork.config.mjs': `export default {
  seed: { services: { postgres: { port: 5432, database: 'shop' } }, steps: [${JSON.stringify(SEED)}] },
  test: { include: ['test/*.test.js'], runner: 'node' },
};
`,
      'test/plain.test.js': `import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
test('reads the seeded row', async () => {
  const c = new pg.Client(process.env.DATABASE_URL);
  await c.connect();
  assert.equal((await c.query('select n from counters')).rows[0].n, 0);
  await c.end();
});
`,
    });
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    symlinkSync(REPO, join(dir, 'node_modules/seedfork'));
    const layers = join(dir, '.seedfork/snapshots');
    const clonesIn = (key: string) =>
      globSync(`${key}/layer/**/services/postgres.pool/PG_*/*`, { cwd: layers, onlyDirectories: true })
        .length;
    const keyOf = (out: string) => /seed: building snapshot (\w+)/.exec(out)?.[1];
    const plain = await runCli(dir, ['run']);
    expect(plain.code, plain.out).toBe(0);
    const plainKey = keyOf(plain.out);
    expect(plainKey, plain.out).toBeDefined();
    expect(clonesIn(plainKey!)).toBe(0);
    // a test that takes databases: the snapshot's key changes and the seed clones the pool
    writeFileSync(
      join(dir, 'test/db.test.js'),
      `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from 'seedfork/pg';
test('takes a pooled database', async () => {
  assert.equal(process.env.SEEDFORK_PG_POOL_READY, process.env.SEEDFORK_SNAPSHOT_KEY.slice(0, 16));
  const db = await testDatabase();
  await db.release();
});
`,
    );
    const pooled = await runCli(dir, ['run']);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(pooled.code, `${pooled.out}\n${result.files.map((f) => f.output).join('\n')}`).toBe(0);
    const pooledKey = keyOf(pooled.out);
    expect(pooledKey, pooled.out).toBeDefined();
    expect(pooledKey).not.toBe(plainKey);
    expect(clonesIn(pooledKey!)).toBe(32);
  }, 180_000);
});
