import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { configSchema } from '../config/schema.js';
import { seedCacheKey } from './cache-key.js';

describe('the snapshot cache key', () => {
  const root = mkdtempSync(join(tmpdir(), 'seedfork-cache-key-'));
  mkdirSync(join(root, 'migrations'));
  writeFileSync(join(root, 'migrations', '001.sql'), 'create table t (id int);\n');
  const config = configSchema.parse({
    seed: { inputs: ['migrations/**'], steps: ['psql -f migrations/001.sql'], services: { postgres: {} } },
    test: { include: ['test/**/*.test.ts'], runner: 'vitest' },
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('is the same for the same inputs and seedfork version, and changes with either', () => {
    const key = seedCacheKey(config, root, '1.0.0').key;
    expect(seedCacheKey(config, root, '1.0.0').key).toBe(key);
    // an upgrade seeds afresh: a service driver's settings baked into the snapshot may differ
    expect(seedCacheKey(config, root, '1.1.0').key).not.toBe(key);
    writeFileSync(join(root, 'migrations', '001.sql'), 'create table t (id bigint);\n');
    expect(seedCacheKey(config, root, '1.0.0').key).not.toBe(key);
  });

  test("keys by this package's version unless told another", async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    expect(seedCacheKey(config, root).key).toBe(seedCacheKey(config, root, version).key);
  });
});
