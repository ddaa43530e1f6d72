import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openHistory } from './store.js';

describe('a new embedded history starts from the cached empty database', () => {
  const base = mkdtempSync(join(tmpdir(), 'seedfork-empty-store-'));
  const cache = join(base, 'cache');
  const saved = process.env.XDG_CACHE_HOME;
  const templates = () => join(cache, 'seedfork', 'history');
  beforeAll(() => {
    process.env.XDG_CACHE_HOME = cache;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    rmSync(base, { recursive: true, force: true });
  });

  async function roundTrip(location: string): Promise<void> {
    const store = await openHistory(location);
    try {
      await store.query('create table if not exists probe (n int)');
      await store.query('insert into probe values (1)');
      const [row] = await store.query<{ n: number }>('select count(*)::int as n from history_migrations');
      expect(row!.n).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  }

  test('the first store makes the empty database in the cache; later stores are copies of it; an existing store is left alone', async () => {
    const first = join(base, 'a', 'history');
    await roundTrip(first);
    const [template] = readdirSync(templates());
    expect(template).toMatch(/^pglite-\d+\.\d+\.\d+/);
    expect(readdirSync(templates())).toEqual([template]); // no staging copy left
    const dir = join(templates(), template!);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);

    // a file put in the cached database shows which stores were copied from it
    writeFileSync(join(dir, 'copied-from-cache'), '');
    const second = join(base, 'b', 'history');
    await roundTrip(second);
    expect(existsSync(join(second, 'copied-from-cache'))).toBe(true);
    await roundTrip(first);
    expect(existsSync(join(first, 'copied-from-cache'))).toBe(false);
    // the second store is its own: the first one's rows are not in it
    const store = await openHistory(second);
    expect(await store.query('select * from probe')).toHaveLength(1);
    await store.close();
    expect(readdirSync(join(base, 'b'))).toEqual(
      ['history', 'history.lock'].filter((e) => existsSync(join(base, 'b', e))),
    );
  });

  test('a cached empty database damaged since it was made is thrown away, and the store is made afresh', async () => {
    const [template] = readdirSync(templates());
    rmSync(join(templates(), template!, 'global', 'pg_control'));
    const store = join(base, 'd', 'history');
    await roundTrip(store);
    expect(existsSync(join(store, 'global', 'pg_control'))).toBe(true);
    expect(existsSync(join(templates(), template!))).toBe(false);
  });

  test('a cache that cannot be written does not stop a store from being made', async () => {
    process.env.XDG_CACHE_HOME = join(base, 'not-a-directory');
    writeFileSync(process.env.XDG_CACHE_HOME, '');
    try {
      await roundTrip(join(base, 'c', 'history'));
    } finally {
      process.env.XDG_CACHE_HOME = cache;
    }
  });
});
