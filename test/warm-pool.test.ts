import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { sandboxEnvironment } from '../src/run/environment.js';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

if (!isRoot) console.warn('skipping the warm pool test: sandboxes need root');

describe.skipIf(!isRoot)('the warm pool', () => {
  test('prepares sandboxes with PostgreSQL ahead of the workers, hands each out once, wastes none, leaves nothing', async () => {
    const before = hostState();
    const root = join(REPO, 'test-output', `warm-pool-${process.pid}`);
    const stateDir = join(root, '.seedfork');
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
    let forks = 0;
    const fork = backend.fork.bind(backend);
    backend.fork = (...args) => {
      forks++;
      return fork(...args);
    };
    const loaded = {
      config: parseConfig({ seed: { services: { postgres: {} } }, test: { include: ['x'] } }),
      file: join(root, 'seedfork.config.json'),
      root,
    };
    const env = await sandboxEnvironment(backend, {
      loaded,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    try {
      env.expect?.(5, 2);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // a worker busy with its first file
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const lease = await env.acquire();
        ids.add(lease.sandbox.id);
        const r = await lease.sandbox.exec(['psql', '-tAc', 'select 1', lease.env.DATABASE_URL!], {
          env: lease.env,
        });
        expect(r.output.trim()).toBe('1');
        if (i === 0) expect(lease.setupMs).toBeLessThan(lease.prepareMs); // it was ready before it was asked for
        await lease.release(false);
      }
      expect(ids.size).toBe(5);
      expect(forks).toBe(5);
    } finally {
      await env.close();
      rmSync(root, { recursive: true, force: true });
    }
    await expectHostClean(before);
  });
});
