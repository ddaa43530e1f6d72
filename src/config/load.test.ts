import { describe, expect, test } from 'vitest';
import { makeProject } from '../../test/support/project.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { loadConfig, parseConfig } from './load.js';
import { parseSize } from './size.js';

describe('parseConfig', () => {
  test('fills defaults', () => {
    const c = parseConfig({ test: { include: ['a.js'] } });
    expect(c).toMatchObject({ isolation: 'namespace', workers: 'auto', per: 'file', stateDir: '.seedfork' });
    expect(c.test.runner).toBe('node');
    expect(c.seed.steps).toEqual([]);
  });

  test('names every unknown key and bad value by path', () => {
    const error = (() => {
      try {
        parseConfig({ test: { include: [] }, seed: { step: ['x'] }, isolation: 'vm' });
      } catch (e) {
        return e as SeedforkError;
      }
    })();
    expect(error).toBeInstanceOf(SeedforkError);
    expect(error?.message).toMatch(/seed: unknown key 'step'/);
    expect(error?.message).toMatch(/test.include: /);
    expect(error?.message).toMatch(/isolation: /);
  });

  test("per: 'shard' is read as its new name 'worker'; test.env takes false to remove a variable", () => {
    expect(parseConfig({ test: { include: ['a.js'] }, per: 'shard' }).per).toBe('worker');
    expect(parseConfig({ test: { include: ['a.js'] }, per: 'worker' }).per).toBe('worker');
    expect(parseConfig({ test: { include: ['a.js'], env: { PGHOST: false } } }).test.env).toEqual({
      PGHOST: false,
    });
    expect(() => parseConfig({ test: { include: ['a.js'], env: { PGHOST: true } } })).toThrow(
      /test\.env\.PGHOST/,
    );
    expect(() =>
      parseConfig({
        test: { include: ['a.js'] },
        seed: { services: { db: { exports: { DATABASE_URL: 'not a name' } } } },
      }),
    ).toThrow(/must be an environment variable name/);
  });

  test('a command runner must say where the files go', () => {
    expect(() => parseConfig({ test: { include: ['x'], runner: { command: 'pytest' } } })).toThrow(
      /must contain \{files\}/,
    );
  });

  test('services: postgres by default, command when it has one', () => {
    const c = parseConfig({
      test: { include: ['x'] },
      seed: { services: { postgres: {}, cache: { command: 'redis-server', ready: { port: 6379 } } } },
    });
    expect(c.seed.services.postgres).toMatchObject({ port: 5432, database: 'app', user: 'postgres' });
    expect(c.seed.services.cache).toMatchObject({ command: 'redis-server', ready: { port: 6379 } });
  });
});

describe('loadConfig', () => {
  for (const [name, text] of [
    [
      'seedfork.config.ts',
      `const n: number = 2;\nexport default { workers: n, test: { include: ['t/*.js'] } };\n`,
    ],
    ['seedfork.config.mjs', `export default { workers: 2, test: { include: ['t/*.js'] } };\n`],
    ['seedfork.config.js', `export default { workers: 2, test: { include: ['t/*.js'] } };\n`],
    ['seedfork.config.json', JSON.stringify({ workers: 2, test: { include: ['t/*.js'] } })],
  ] as const) {
    test(`loads ${name} with a plain default export`, async () => {
      const dir = makeProject(`config-${name}`, { [name]: text, 'package.json': '{"type":"module"}' });
      const loaded = await loadConfig(dir);
      expect(loaded.config.workers).toBe(2);
      expect(loaded.root).toBe(dir);
    });
  }

  test('a syntax error names the file', async () => {
    const dir = makeProject('config-broken', { 'seedfork.config.json': '{ "test": ' });
    await expect(loadConfig(dir)).rejects.toThrow(/cannot load .*seedfork.config.json/);
  });
});

test('parseSize', () => {
  expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
  expect(parseSize('2G')).toBe(2 * 1024 ** 3);
  expect(parseSize('1GB')).toBe(1e9);
  expect(parseSize(4096)).toBe(4096);
  expect(() => parseSize('lots')).toThrow(/not a size/);
});
