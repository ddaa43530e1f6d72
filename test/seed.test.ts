import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LoadedConfig } from '../src/config/load.js';
import { parseConfig } from '../src/config/load.js';
import { SeedforkError } from '../src/errors/seedfork-error.js';
import { sandboxEnvironment } from '../src/run/environment.js';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { prepareSnapshot } from '../src/seed/seed.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject, REPO } from './support/project.js';

if (!isRoot) console.warn('skipping seed tests: sandboxes need root (run the suite as root)');

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

function project(name: string, config: unknown): LoadedConfig {
  const root = makeProject(name, { 'input.txt': 'v1' });
  return { config: parseConfig(config), file: join(root, 'seedfork.config.json'), root };
}

describe.skipIf(!isRoot)('seeding and services', () => {
  const stateDir = join(REPO, 'test-output', 'state-seed');
  const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
  let before: HostState;

  beforeAll(() => {
    rmSync(stateDir, { recursive: true, force: true });
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('postgres is seeded once; every fork starts from the seeded rows, independently', async () => {
    const loaded = project('pg', {
      seed: {
        inputs: ['input.txt'],
        steps: ['psql -v ON_ERROR_STOP=1 -c "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)"'],
        services: { postgres: { port: 5432, database: 'app' } },
      },
      test: { include: ['*.test.js'] },
    });
    const pgBin = '/usr/lib/postgresql/15/bin';
    const testEnv = { ...env, PATH: `${pgBin}:${env.PATH}` };
    const environment = await sandboxEnvironment(backend, { loaded, baseEnv: testEnv });
    expect(environment.snapshot?.cached).toBe(false);
    try {
      const [a, b] = await Promise.all([environment.acquire(), environment.acquire()]);
      expect(a.env.DATABASE_URL).toBe('postgresql://postgres@127.0.0.1:5432/app');
      await a.sandbox.exec(['psql', '-c', 'INSERT INTO t VALUES (3)'], { env: a.env });
      const count = (l: typeof a) =>
        l.sandbox.exec(['psql', '-tAc', 'SELECT count(*) FROM t'], { env: l.env });
      expect((await count(a)).output.trim()).toBe('3');
      expect((await count(b)).output.trim()).toBe('2');
      await Promise.all([a.release(false), b.release(false)]);
    } finally {
      await environment.close();
    }
    const again = await prepareSnapshot(backend, loaded, { env: testEnv });
    expect(again.cached).toBe(true);
    await expectHostClean(before);
  });

  test('a failing seed step names the step, shows its output and caches nothing', async () => {
    const loaded = project('badstep', {
      seed: { steps: ['echo preparing', 'echo "migration 7 is broken" >&2; exit 3'] },
      test: { include: ['*.test.js'] },
    });
    const error = await prepareSnapshot(backend, loaded, { env }).catch((e) => e);
    expect(error).toBeInstanceOf(SeedforkError);
    expect(error.message).toMatch(
      /seed step 2\/2 failed: `echo "migration 7 is broken" >&2; exit 3` exited with 3/,
    );
    expect(error.details).toMatch(/migration 7 is broken/);
    const retry = await prepareSnapshot(backend, loaded, { env }).catch((e) => e);
    expect(retry).toBeInstanceOf(SeedforkError); // not cached as if it had worked
    await expectHostClean(before);
  });

  test('a service that never becomes ready times out with its log', async () => {
    const loaded = project('notready', {
      seed: {
        services: {
          api: { command: 'echo "api booting"; sleep 1000', ready: { port: 9999 }, readyTimeoutMs: 500 },
        },
      },
      test: { include: ['*.test.js'] },
    });
    const error = await prepareSnapshot(backend, loaded, { env }).catch((e) => e);
    expect(error).toBeInstanceOf(SeedforkError);
    expect(error.message).toMatch(
      /service api was not ready after 500 ms \(waiting for port 9999 listening\)/,
    );
    expect(error.details).toMatch(/api booting/);
    await expectHostClean(before);
  });

  test('a service that exits early is reported with its exit status', async () => {
    const loaded = project('crash', {
      seed: { services: { api: { command: 'echo "bad flag" >&2; exit 4', ready: { port: 9999 } } } },
      test: { include: ['*.test.js'] },
    });
    const error = await prepareSnapshot(backend, loaded, { env }).catch((e) => e);
    expect(error.message).toMatch(/service api exited before it was ready \(exit code 4\)/);
    expect(error.details).toMatch(/bad flag/);
  });
});
