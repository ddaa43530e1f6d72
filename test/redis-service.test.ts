import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject } from './support/project.js';
import { redisMissing } from './support/redis.js';

const hasRedis = !redisMissing();
if (!isRoot) console.log('skipping the redis service tests: sandboxes need root');
else if (!hasRedis)
  console.log(
    'skipping the redis service tests: redis-server is not installed (apt-get install redis-server)',
  );

/** A test file: sees the seed's data and its own Redis, which no other file writes into. */
const file = (me: string) => `set -e
test "$(redis-cli -u "$REDIS_URL" get greeting)" = "from the seed"
test "$(redis-cli -u "$REDIS_URL" get started-after-cache)" = "yes"
test -z "$SESSIONS_URL"
test "$(redis-cli -u "$SESSION_STORE" ping)" = "PONG"
test -z "$(redis-cli -u "$REDIS_URL" get written-by-a-test)"
redis-cli -u "$REDIS_URL" set written-by-a-test ${me} > /dev/null
sleep 0.5
test "$(redis-cli -u "$REDIS_URL" get written-by-a-test)" = "${me}"
`;

describe.skipIf(!isRoot || !hasRedis)('the redis service, and services that depend on others', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('seeded once, forked with its data, its URL exported as configured, started after nothing it needs', async () => {
    const dir = makeProject('redis-service', {
      'seedfork.config.mjs': `export default {
  seed: {
    services: {
      // declared first, started after the cache it writes to
      greeter: {
        command: 'redis-cli -u "$REDIS_URL" set started-after-cache yes > /dev/null && exec sleep 1000',
        dependsOn: ['cache'],
        ready: { command: 'redis-cli -u "$REDIS_URL" get started-after-cache | grep -q yes' },
      },
      cache: { kind: 'redis', port: 6390 },
      sessions: { kind: 'redis', port: 6391, exports: { REDIS_URL: false, SESSIONS_URL: 'SESSION_STORE' } },
    },
    steps: ['redis-cli -u "$REDIS_URL" set greeting "from the seed" > /dev/null'],
  },
  test: { include: ['test/*.sh'], runner: { command: 'sh {files}' } },
  workers: 2,
};
`,
      'test/a.sh': file('a'),
      'test/b.sh': file('b'),
    });
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).toBe(0);
    // a command runner without a report: each file passes or fails by its exit code
    expect(r.out).toMatch(/✓ test\/a\.sh/);
    expect(r.out).toMatch(/✓ test\/b\.sh/);
    // what the files wrote stayed in their sandboxes
    expect(() => execFileSync('redis-cli', ['-p', '6390', 'ping'], { stdio: 'pipe' })).toThrow();
  });

  test('no redis-server where the config points: a clear error, nothing left behind', async () => {
    const dir = makeProject('redis-missing', {
      'seedfork.config.mjs': `export default {
  seed: { services: { cache: { kind: 'redis', bin: '/nonexistent/redis-server' } } },
  test: { include: ['test/*.sh'], runner: { command: 'sh {files}' } },
};
`,
      'test/a.sh': 'true\n',
    });
    const r = await runCli(dir, ['run']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/no redis-server at \/nonexistent\/redis-server/);
    expect(r.out).toMatch(/Point seed\.services\.<name>\.bin at the redis-server binary/);
  });
});
