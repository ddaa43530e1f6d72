import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findPostgresBin } from '../src/seed/services/postgres.js';
import { runCommand } from './support/command.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { CLI, makeProject, REPO } from './support/project.js';

// The rootless path runs seedfork as an unprivileged user (nobody) through a user namespace.
// The checkout may sit below a private directory (/root), so the user reaches it through a
// bind mount at /mnt/repo, made in a mount namespace of the test's own: the host is unchanged.
const NOBODY = '65534';
const MOUNTED = '/mnt/repo';

function asNobody(cwd: string, argv: string[]): string[] {
  const script = `mount -t tmpfs tmpfs /mnt && mkdir ${MOUNTED} && mount --bind "$0" ${MOUNTED} && cd "$1" && shift && exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups -- "$@"`;
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, REPO, cwd, ...argv];
}

function inMount(path: string): string {
  return join(MOUNTED, relative(REPO, path));
}

function whyNot(): string | undefined {
  if (!isRoot) return 'the test switches to an unprivileged user, which needs root';
  const userns = spawnSync('setpriv', [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    'unshare',
    '--user',
    '--map-root-user',
    'true',
  ]);
  if (userns.status !== 0) return 'this kernel does not allow unprivileged user namespaces';
  return undefined;
}

const reason = whyNot();
if (reason) console.warn(`skipping rootless tests: ${reason}`);

describe.skipIf(reason !== undefined)('rootless sandboxes (unprivileged user namespaces)', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  test('a normal user seeds, forks with postgres, and the host project stays untouched', async () => {
    const psql = join(
      findPostgresBin({
        port: 5432,
        database: 'app',
        user: 'postgres',
        exports: {},
        settings: {},
        readyTimeoutMs: 30_000,
        pool: 0,
        dependsOn: [],
      }),
      'psql',
    );
    const check = (name: string) =>
      `import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { readFileSync, writeFileSync } from 'node:fs';\nimport { execSync } from 'node:child_process';\n` +
      `test('${name}', () => {\n  assert.equal(readFileSync('seeded.txt', 'utf8'), 'seeded\\n');\n  writeFileSync('written.txt', '${name}');\n` +
      `  assert.equal(execSync('${psql} -tAc "SELECT count(*) FROM t"').toString().trim(), '1');\n  execSync('${psql} -c "INSERT INTO t VALUES (2)"');\n});\n`;
    const dir = makeProject('rootless', {
      'seedfork.config.mjs': `export default {\n  seed: { steps: ['echo seeded > seeded.txt', '${psql} -c "CREATE TABLE t (n int); INSERT INTO t VALUES (1)"'], services: { postgres: { port: 5432 } } },\n  test: { include: ['test/*.test.js'] },\n};\n`,
      'test/a.test.js': check('a'),
      'test/b.test.js': check('b'),
      'home/.keep': '',
    });
    spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir]);
    const [cmd, ...args] = asNobody(inMount(dir), [process.execPath, inMount(CLI), 'run']);
    const r = await runCommand(cmd!, args, {
      env: { ...process.env, HOME: inMount(join(dir, 'home')), CI: 'true', NO_COLOR: '1' },
    });
    expect(r.out).toMatch(/2 files, 2 tests: 2 passed, 0 failed/);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'seeded.txt'))).toBe(false);
    expect(existsSync(join(dir, 'written.txt'))).toBe(false);
    expect(existsSync(join(dir, '.seedfork', 'snapshots-rootless'))).toBe(true);
  });
});
