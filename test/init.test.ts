import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inspectProject } from '../src/init/inspect.js';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';

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
});
