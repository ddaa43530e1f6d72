import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { configSchema } from '../config/schema.js';
import { seedCacheKey } from './cache-key.js';
import { servicesToSeed, suiteTakesTestDatabases } from './pool-demand.js';

describe("a PostgreSQL service's pool: 'auto' is cloned only for a suite that takes test databases", () => {
  const root = mkdtempSync(join(tmpdir(), 'seedfork-pool-demand-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const config = (pool?: 'auto' | number, include = ['test/**/*.test.ts']) =>
    configSchema.parse({
      seed: { services: { postgres: pool === undefined ? {} : { pool }, cache: { kind: 'redis' } } },
      test: { include, runner: 'vitest' },
    });

  test('no file under the tests calls a test-database helper: auto becomes 0, and the key says so', () => {
    write('test/a.test.ts', "import pg from 'pg';\ntest('x', () => {});\n");
    write('src/not-a-test.ts', 'testDatabase(); // outside the tests: not counted\n');
    write('test/node_modules/dep/index.js', 'testDatabase();\n');
    expect(suiteTakesTestDatabases(config(), root)).toBe(false);
    const services = servicesToSeed(config(), root);
    expect(services.postgres).toMatchObject({ pool: 0 });
    expect(services.cache).toEqual(config().seed.services.cache);
    // an explicit size is kept whatever the tests do
    expect(servicesToSeed(config(5), root).postgres).toMatchObject({ pool: 5 });
    expect(seedCacheKey(config(), root).key).toBe(seedCacheKey(config(0), root).key);
  });

  test('a support module beside the tests calls one: auto stays, and the key changes', () => {
    const before = seedCacheKey(config(), root).key;
    write(
      'test/support/db.ts',
      "import { testDatabase } from 'seedfork/pg';\nexport const db = () => testDatabase();\n",
    );
    expect(suiteTakesTestDatabases(config(), root)).toBe(true);
    expect(servicesToSeed(config(), root).postgres).toMatchObject({ pool: 'auto' });
    expect(seedCacheKey(config(), root).key).not.toBe(before);
    rmSync(join(root, 'test/support'), { recursive: true });
  });

  test.each([
    ['databaseFixtures', 'vitest'],
    ['databasePerTest', 'jest'],
    ['withTestDatabase', 'jest'],
    ['testDatabaseFor', 'node:test'],
  ])('%s (%s) counts', (helper) => {
    write('test/b.test.ts', `const db = ${helper}();\n`);
    expect(suiteTakesTestDatabases(config(), root)).toBe(true);
    rmSync(join(root, 'test/b.test.ts'));
  });

  test('an include without a directory looks through the whole project, node_modules left out', () => {
    expect(suiteTakesTestDatabases(config('auto', ['**/*.test.ts']), root)).toBe(true); // src/not-a-test.ts
    rmSync(join(root, 'src'), { recursive: true });
    expect(suiteTakesTestDatabases(config('auto', ['**/*.test.ts']), root)).toBe(false);
  });
});
