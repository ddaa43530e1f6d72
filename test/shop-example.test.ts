import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';
import { redisMissing } from './support/redis.js';

const SHOP = join(REPO, 'examples/shop');

const whyNot = !isRoot
  ? 'sandboxes need root (run the suite as root)'
  : redisMissing()
    ? 'redis-server is not installed (apt-get install redis-server)'
    : undefined;
if (whyNot) console.warn(`skipping the shop example: ${whyNot}`);

const results = (): RunResult => JSON.parse(readFileSync(join(SHOP, '.seedfork/results.json'), 'utf8'));

describe.skipIf(whyNot !== undefined)(
  'the shop example: three services, PostgreSQL, Redis, Pact and a stub',
  () => {
    let before: HostState;
    beforeAll(() => {
      rmSync(join(SHOP, '.seedfork'), { recursive: true, force: true });
      before = hostState();
    });
    afterAll(async () => {
      await expectHostClean(before);
    });

    test('passes under seedfork with 3 workers: contracts, provider verification and the stubbed provider', async () => {
      const r = await runCli(SHOP, ['run', '--workers', '3']);
      expect(r.code, r.out).toBe(0);
      const run = results();
      expect(run.files.map((f) => f.file).sort()).toEqual([
        'test/checkout.test.js',
        'test/orders-users.pact.test.js',
        'test/orders.test.js',
        'test/payments.test.js',
        'test/users.provider.test.js',
        'test/users.test.js',
      ]);
      const tests = run.files.flatMap((f) => f.tests);
      expect(tests.length).toBe(16);
      expect(tests.filter((t) => t.status !== 'passed')).toEqual([]);
    });

    test('fails without isolation: its files share rows, the order counter and the ports', async () => {
      const r = await runCli(SHOP, ['run', '--isolation', 'none', '--workers', '3']);
      expect(r.code, r.out).toBe(1);
      const run = results();
      expect(run.isolation).toBe('none');
      // One file at least, whatever the order: users.test and checkout.test both sign up
      // dana@shop.test, so the later one gets a 409. How many more fail (the order counter both
      // orders.test and checkout.test expect at 1001, the payment ids, a port two files listen
      // on at once) depends on which files run together
      expect(run.summary.filesFailed, r.out).toBeGreaterThanOrEqual(1);
      const failed = run.files.filter((f) => f.status !== 'passed').map((f) => f.file);
      expect(
        failed.some((f) => ['test/users.test.js', 'test/checkout.test.js'].includes(f)),
        r.out,
      ).toBe(true);
      // ...and the sandboxed run passes afterwards: nothing the shared run left leaks in.
      expect((await runCli(SHOP, ['run', '--workers', '3'])).code).toBe(0);
    });
  },
);
