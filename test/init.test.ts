import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inspectProject } from '../src/init/inspect.js';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject, REPO } from './support/project.js';

/** A project laid out unlike any fixture: node:test under spec/, a compose file, TEST_DATABASE_URL. */
function shopProject(): string {
  return makeProject('init-shop', {
    'package.json': JSON.stringify({
      name: 'shop',
      type: 'module',
      scripts: { test: 'node --test spec/', 'db:migrate': 'node scripts/migrate.js' },
    }),
    'package-lock.json': '{"lockfileVersion": 3, "packages": {}}\n',
    'docker-compose.yml': `services:
  db:
    image: postgres:16
    environment:
      POSTGRES_DB: shop
    ports: ["5433:5432"]
  mailer:
    image: mailhog/mailhog
`,
    'migrations/001-orders.sql': 'create table orders (id serial primary key, total int not null);\n',
    'scripts/migrate.js': `import { execFileSync } from 'node:child_process';
execFileSync('psql', [process.env.TEST_DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-f', 'migrations/001-orders.sql'], { stdio: 'inherit' });
`,
    'src/db.js': 'export const url = process.env.TEST_DATABASE_URL;\n',
    'spec/orders.test.js': `import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { url } from '../src/db.js';
const psql = (sql) => execFileSync('psql', [url, '-At', '-c', sql], { encoding: 'utf8' }).trim();
test('starts with no orders', () => assert.equal(psql('select count(*) from orders'), '0'));
test('stores an order', async () => {
  psql('insert into orders (total) values (42)');
  assert.equal(psql('select count(*) from orders'), '1');
});
`,
  });
}

describe('seedfork init', () => {
  test('infers runner, tests, services, steps, cache inputs and the database variable', async () => {
    const found = inspectProject(shopProject());
    expect(found.runner?.name).toBe('node');
    expect(found.matched).toBe(1);
    expect(found.services).toEqual([
      expect.objectContaining({
        kind: 'postgres',
        name: 'db',
        port: 5433,
        database: 'shop',
        urlVar: 'TEST_DATABASE_URL',
      }),
    ]);
    expect(found.steps.map((s) => s.command)).toEqual(['npm run db:migrate']);
    expect(found.inputs).toEqual(['package-lock.json', 'migrations/**']);
    expect(found.unknown.join('\n')).toMatch(/mailer.*mailhog/);
  });

  test('never overwrites a config without --force', async () => {
    const dir = makeProject('init-exists', { 'seedfork.config.mjs': 'export default {};\n' });
    const r = await runCli(dir, ['init']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/seedfork\.config\.mjs already exists[\s\S]*--force/);
    expect(readFileSync(join(dir, 'seedfork.config.mjs'), 'utf8')).toBe('export default {};\n');
    expect(existsSync(join(dir, 'seedfork.config.ts'))).toBe(false);
  });

  test('says what it could not infer on an empty repository', async () => {
    const dir = makeProject('init-empty', { 'README.md': '# nothing here\n' });
    const r = await runCli(dir, ['init']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/could not infer: no test runner/);
  });
});

describe('seedfork init finds the database where projects declare it', () => {
  test('a GitHub Actions service container and its env', () => {
    const found = inspectProject(
      makeProject('init-gha', {
        'package.json': JSON.stringify({ scripts: { test: 'vitest run' }, devDependencies: { vitest: '3' } }),
        '.github/workflows/ci.yml': `on: push
jobs:
  test:
    runs-on: ubuntu-24.04
    services:
      db:
        image: postgres:17
        env:
          POSTGRES_DB: ci_db
          POSTGRES_USER: ci
          POSTGRES_PASSWORD: ci
        ports: ['5439:5432']
    env:
      DATABASE_URL: postgres://ci:ci@localhost:5439/ci_db
    steps:
      - run: npm test
`,
        'src/db.ts': 'export const url = process.env.DATABASE_URL;\n',
      }),
    );
    expect(found.services).toEqual([
      {
        kind: 'postgres',
        name: 'db',
        port: 5439,
        database: 'ci_db',
        user: 'ci',
        from: expect.stringContaining('.github/workflows/ci.yml (postgres:17)'),
      },
    ]);
  });

  test('GitLab CI services (with an alias) and variables', () => {
    const found = inspectProject(
      makeProject('init-gitlab', {
        'package.json': JSON.stringify({ devDependencies: { jest: '30' } }),
        '.gitlab-ci.yml': `variables:
  POSTGRES_DB: gl_db
test:
  services:
    - postgres:16
    - name: redis:7
      alias: cache
  script: npm test
`,
      }),
    );
    expect(found.services).toMatchObject([
      { kind: 'postgres', name: 'postgres', port: 5432, database: 'gl_db' },
      { kind: 'redis', name: 'cache', port: 6379 },
    ]);
  });

  test('a URL in .env.test, read by the code under its own name', () => {
    const found = inspectProject(
      makeProject('init-dotenv', {
        'package.json': JSON.stringify({ dependencies: { postgres: '3' } }),
        '.env.test':
          '# test database\nAPP_DB_URL=postgres://app:secret@localhost:5433/todo_test\nPORT=3000\n',
        'src/sql.js':
          "import postgres from 'postgres';\nexport const sql = postgres(process.env.APP_DB_URL);\n",
      }),
    );
    expect(found.services).toEqual([
      {
        kind: 'postgres',
        name: 'postgres',
        port: 5433,
        database: 'todo_test',
        user: 'app',
        urlVar: 'APP_DB_URL',
        from: '.env.test (APP_DB_URL), the postgres dependency',
      },
    ]);
  });

  test.each([
    [
      'prisma/schema.prisma',
      'datasource db {\n  provider = "postgresql"\n  url      = env("PRISMA_DB_URL")\n}\n',
      'Prisma',
      'PRISMA_DB_URL',
    ],
    [
      'knexfile.js',
      "module.exports = { test: { client: 'pg', connection: process.env.KNEX_DB_URL } };\n",
      'knex',
      'KNEX_DB_URL',
    ],
    [
      'drizzle.config.ts',
      "export default { dialect: 'postgresql', dbCredentials: { url: process.env.DRIZZLE_DB_URL! } };\n",
      'Drizzle',
      'DRIZZLE_DB_URL',
    ],
  ])('an ORM config: %s', (file, text, orm, urlVar) => {
    const found = inspectProject(makeProject('init-orm', { 'package.json': '{}', [file]: text }));
    expect(found.services).toEqual([
      { kind: 'postgres', name: 'postgres', port: 5432, database: 'app', urlVar, from: `${file} (${orm})` },
    ]);
  });

  test('drivers alone: pg and ioredis give services, mysql2 is said to be unsupported', () => {
    const found = inspectProject(
      makeProject('init-drivers', {
        'package.json': JSON.stringify({ dependencies: { pg: '8', ioredis: '5', mysql2: '3' } }),
      }),
    );
    expect(found.services).toMatchObject([
      { kind: 'postgres', from: 'the pg dependency' },
      { kind: 'redis', from: 'the ioredis dependency' },
    ]);
    expect(found.unknown.join('\n')).toMatch(
      /mysql2 dependency: MySQL\/MariaDB services are not supported yet/,
    );
  });

  test('a bare DATABASE_URL in the code wins over a perf script’s PERF_DATABASE_URL', () => {
    const found = inspectProject(
      makeProject('init-bare-url', {
        'package.json': JSON.stringify({ dependencies: { pg: '8' } }),
        'src/db.js': 'export const url = process.env.DATABASE_URL;\n',
        'scripts/perf.js':
          'const a = process.env.PERF_DATABASE_URL;\nconst b = process.env.PERF_DATABASE_URL;\nconst c = process.env.PERF_DATABASE_URL;\n',
      }),
    );
    expect(found.services[0]).not.toHaveProperty('urlVar');
  });
});

describe('seedfork init takes the test files as the runner selects them', () => {
  test('Vitest is asked (vitest list): its include, not the default globs', () => {
    const found = inspectProject(join(REPO, 'test/fixtures/lingering/vitest'));
    expect(found.include).toEqual(['*.test.js']);
    expect(found.includeWhy).toMatch(/^`vitest list --filesOnly`: the 6 files vitest runs/);
  });

  test('Mocha’s spec from .mocharc.yml, pytest’s testpaths, the test script’s variables', () => {
    const mocha = inspectProject(
      makeProject('init-mocha', {
        'package.json': JSON.stringify({
          scripts: { test: 'cross-env TZ=UTC NODE_ENV=test mocha --exit' },
          devDependencies: { mocha: '12' },
        }),
        '.mocharc.yml': "spec: 'spec/**/*.spec.js'\ntimeout: 5000\n",
        'spec/a.spec.js': '',
        'test/helper.js': '',
      }),
    );
    expect(mocha.include).toEqual(['spec/**/*.spec.js']);
    expect(mocha.matched).toBe(1);
    expect(mocha.env?.vars).toEqual({ TZ: 'UTC', NODE_ENV: 'test' });
    const pytest = inspectProject(
      makeProject('init-pytest', {
        'pytest.ini': '[pytest]\ntestpaths = tests/integration\naddopts = -q\n',
        'tests/integration/test_orders.py': '',
        'tests/unit/test_math.py': '',
      }),
    );
    expect(pytest.include).toEqual(['tests/integration/**/test_*.py', 'tests/integration/**/*_test.py']);
    expect(pytest.matched).toBe(1);
  });
});

describe.skipIf(!isRoot)('a config written by init runs a project nobody wrote it for', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('init then run: migrated database under the renamed variable, every test passing', async () => {
    const dir = shopProject();
    const init = await runCli(dir, ['init']);
    expect(init.code, init.out).toBe(0);
    expect(init.out).toMatch(/next: .*seedfork run/);
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(0);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(result.files[0]!.tests.map((t) => [t.name, t.status])).toEqual([
      ['starts with no orders', 'passed'],
      ['stores an order', 'passed'],
    ]);
  });

  test('a Jest + ts-jest suite: the files testRegex picks (asked of jest --listTests), DATABASE_URL, the Node flag of its test script', async () => {
    const dir = join(REPO, 'test-output', 'projects', `init-job-queue-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(REPO, 'test/fixtures/init/job-queue'), dir, { recursive: true });
    const init = await runCli(dir, ['init']);
    expect(init.code, init.out).toBe(0);
    const found = inspectProject(dir);
    // not bench/throughput.test.ts nor test/fixtures/jobs.fixture.test.ts, which jest's own
    // defaults would take too
    expect(found.include).toEqual(['test/*.test.js', 'test/*.test.ts']);
    expect(found.includeWhy).toMatch(/jest --listTests/);
    expect(found.matched).toBe(3);
    expect(found.services).toEqual([
      expect.objectContaining({ kind: 'postgres', from: 'the pg dependency' }),
    ]);
    expect(found.services[0]).not.toHaveProperty('urlVar');
    expect(found.env?.vars).toEqual({ NODE_OPTIONS: '--experimental-vm-modules' });
    expect(init.out).toMatch(/test env: NODE_OPTIONS=--experimental-vm-modules/);
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(0);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(result.files.map((f) => [f.file, f.status])).toEqual([
      ['test/enqueue.test.ts', 'passed'],
      ['test/priority.test.js', 'passed'],
      ['test/take.test.ts', 'passed'],
    ]);
  });

  test('the bundled example copied out of the repository: init finds its database from the pg dependency and the run passes', async () => {
    const dir = join(REPO, 'test-output', 'projects', `init-todo-api-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(REPO, 'examples/todo-api'), dir, {
      recursive: true,
      filter: (src) => !/seedfork\.config\.ts$|\/\.seedfork(\/|$)/.test(src),
    });
    const init = await runCli(dir, ['init']);
    expect(init.code, init.out).toBe(0);
    expect(init.out).toMatch(
      /service: postgres \(postgres: database app, port 5432; from the pg dependency\)/,
    );
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(0);
    const result: RunResult = JSON.parse(readFileSync(join(dir, '.seedfork/results.json'), 'utf8'));
    expect(result.summary.failed).toBe(0);
    expect(result.summary.passed).toBeGreaterThanOrEqual(18);
  });
});
