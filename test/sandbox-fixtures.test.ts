import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { microvmMissing, qemuPids } from './support/microvm.js';
import { makeProject, REPO } from './support/project.js';

const execFileP = promisify(execFile);

/** The seeded row every test bumps: in a shared database the second bump would read 2. */
const CONFIG = `export default {
  seed: {
    services: { postgres: { port: 5432, database: 'app' } },
    steps: [${JSON.stringify(`psql -Xqc 'create table counters (id int primary key, n int not null); insert into counters values (1, 0)'`)}],
  },
  test: { include: ['test/*.test.*'] },
};
`;

/**
 * Each test, in its own sandbox: bumps the seeded row (from inside, psql, and from this
 * process through serviceUrl), serves on port 8080 and reads it back through url(), and
 * creates /tmp/state exclusively. Shared state would make all but one of them fail.
 */
const SHARED_STATE = `
const spans = [];
async function sharedStatePatterns(sandbox, i) {
  const start = Date.now();
  const bump = await sandbox.exec(['psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', 'update counters set n = n + 1 where id = 1 returning n']);
  if (bump.stdout.trim() !== '1') throw new Error('the row was bumped by another test: ' + bump.stdout + bump.stderr);
  const app = "require('http').createServer((q, s) => s.end('test " + i + "')).listen(8080, '127.0.0.1', () => console.log('up'))";
  const up = await sandbox.exec('node -e "' + app + '" > /tmp/app.log 2>&1 & sleep 0.5; cat /tmp/app.log');
  if (up.stdout !== 'up\\n') throw new Error('port 8080: ' + up.stdout);
  const body = await (await fetch(await sandbox.url(8080))).text();
  if (body !== 'test ' + i) throw new Error('port 8080 answered ' + body);
  const file = await sandbox.exec('set -o noclobber; echo ' + i + ' > /tmp/state && cat /tmp/state');
  if (file.stdout !== i + '\\n') throw new Error('/tmp/state: ' + file.stdout + file.stderr);
  const client = new pg.Client({ connectionString: await sandbox.serviceUrl('postgres') });
  await client.connect();
  const { rows } = await client.query('select n from counters where id = 1');
  await client.end();
  if (rows[0].n !== 1) throw new Error('from this process the row reads ' + rows[0].n);
  await new Promise((r) => setTimeout(r, 300));
  spans.push({ start, end: Date.now() });
}
function overlapped() {
  if (spans.length !== 3) throw new Error(spans.length + ' tests recorded their span');
  const [a, b] = spans;
  if (!(a.start < b.end && b.start < a.end)) throw new Error('the tests did not run at the same time');
}
`;

const PROJECTS: { runner: string; command: string[]; files: Record<string, string> }[] = [
  {
    runner: 'node:test',
    command: [process.execPath, '--test', 'test/'],
    files: {
      'test/patterns.test.mjs': `import { after, describe, test } from 'node:test';
import pg from 'pg';
import { withSandbox } from 'seedfork/node-test';
${SHARED_STATE}
after(overlapped);
describe('a sandbox per test', { concurrency: true }, () => {
  for (const i of [0, 1, 2]) test('test ' + i, () => withSandbox((sandbox) => sharedStatePatterns(sandbox, i)));
});
`,
    },
  },
  {
    runner: 'vitest',
    command: [join(REPO, 'node_modules/.bin/vitest'), 'run'],
    files: {
      'vitest.config.mjs':
        "export default { test: { include: ['test/*.test.mjs'], testTimeout: 60_000, hookTimeout: 60_000 } };\n",
      'test/patterns.test.mjs': `import { afterAll, describe, test as base } from 'vitest';
import pg from 'pg';
import { sandboxFixtures } from 'seedfork/vitest';
${SHARED_STATE}
const test = base.extend(sandboxFixtures());
afterAll(overlapped);
describe('a sandbox per test', () => {
  for (const i of [0, 1, 2]) test.concurrent('test ' + i, ({ sandbox }) => sharedStatePatterns(sandbox, i));
});
`,
    },
  },
  {
    runner: 'jest',
    command: [join(REPO, 'node_modules/.bin/jest'), '--ci'],
    files: {
      'jest.config.mjs':
        "export default { testEnvironment: 'node', transform: {}, testMatch: ['**/test/*.test.mjs'], testTimeout: 60000 };\n",
      'test/patterns.test.mjs': `import pg from 'pg';
import { withSandbox } from 'seedfork/jest';
${SHARED_STATE}
afterAll(overlapped);
describe('a sandbox per test', () => {
  for (const i of [0, 1, 2]) test.concurrent('test ' + i, () => withSandbox((sandbox) => sharedStatePatterns(sandbox, i)));
});
`,
    },
  },
];

if (!isRoot) console.log('skipping the sandbox fixture tests: sandboxes need root');

describe.skipIf(!isRoot)('a sandbox per test inside the real runners (seedfork/sdk fixtures)', () => {
  let before: HostState;
  beforeAll(() => {
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
  });

  const project = (name: string, files: Record<string, string>) => {
    const dir = makeProject(name, {
      'package.json': JSON.stringify({ name, private: true, type: 'module' }),
      'seedfork.config.mjs': CONFIG,
      ...files,
    });
    // the project imports seedfork by its package name, as a user's would
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    symlinkSync(REPO, join(dir, 'node_modules/seedfork'));
    return dir;
  };

  test.each(PROJECTS)(
    '$runner: three concurrent tests each get a fork of the seeded snapshot: the same row, port and /tmp file',
    async ({ runner, command, files }) => {
      const dir = project(`sandbox-fixtures-${runner.replace(':', '-')}`, files);
      const r = await execFileP(command[0]!, command.slice(1), {
        cwd: dir,
        // Jest runs ES modules (seedfork is one) with Node's VM modules
        env: { ...process.env, CI: 'true', NO_COLOR: '1', NODE_OPTIONS: '--experimental-vm-modules' },
      }).catch((error: { code: number; stdout: string; stderr: string }) => error);
      expect('code' in r ? r.code : 0, `${r.stdout}\n${r.stderr}`).toBe(0);
      await expectHostClean(before);
    },
    180_000,
  );

  test('vitest: a failed test’s sandbox is kept with SEEDFORK_KEEP_FAILED=1, and seedfork shell enters it', async () => {
    const dir = project('sandbox-fixtures-keep', {
      'vitest.config.mjs':
        "export default { test: { include: ['test/*.test.mjs'], testTimeout: 60_000 } };\n",
      'test/fails.test.mjs': `import { test as base, expect } from 'vitest';
import { sandboxFixtures } from 'seedfork/vitest';
const test = base.extend(sandboxFixtures());
test('passes', async ({ sandbox }) => { expect((await sandbox.exec('true')).exitCode).toBe(0); });
test('fails', async ({ sandbox }) => {
  await sandbox.exec('echo left for inspection > /tmp/clue');
  expect(1).toBe(2);
});
`,
    });
    const r = await execFileP(join(REPO, 'node_modules/.bin/vitest'), ['run'], {
      cwd: dir,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', SEEDFORK_KEEP_FAILED: '1' },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    const out = `${r.stdout}\n${r.stderr}`;
    try {
      expect('code' in r ? r.code : 0, out).toBe(1);
      const kept = /seedfork: kept the sandbox of "fails": npx seedfork shell (\w+)/.exec(out);
      expect(kept, out).not.toBeNull();
      expect(out.match(/kept the sandbox of/g)).toHaveLength(1); // not the passing test's
      const shell = await runCli(dir, ['shell', kept![1]!, 'cat', '/tmp/clue']);
      expect(shell.out).toContain('left for inspection');
      const dashed = await runCli(dir, ['shell', kept![1]!, '--', 'cat', '/tmp/clue']);
      expect(dashed.out).toContain('left for inspection');
    } finally {
      const gc = await runCli(dir, ['gc']); // kept sandboxes outlive their process until gc
      expect(gc.code, gc.out).toBe(0);
    }
  }, 180_000);

  const why = microvmMissing();
  if (why) console.warn(`skipping the sandbox fixtures on the microvm backend: ${why}`);

  test.skipIf(why !== undefined)(
    'vitest on the microvm backend: three concurrent tests each get a guest forked from the saved one',
    async () => {
      // the same patterns through exec, in the guest (a host address reaches no port in a guest)
      const dir = project('sandbox-fixtures-microvm', {
        'seedfork.config.mjs': CONFIG.replace(
          'export default {',
          "export default {\n  isolation: 'microvm',",
        ),
        'vitest.config.mjs':
          "export default { test: { include: ['test/*.test.mjs'], testTimeout: 300_000, hookTimeout: 300_000 } };\n",
        'test/patterns.test.mjs': `import { describe, expect, test as base } from 'vitest';
import { sandboxFixtures } from 'seedfork/vitest';
const test = base.extend(sandboxFixtures());
describe('a guest per test', () => {
  for (const i of [0, 1, 2])
    test.concurrent('test ' + i, async ({ sandbox }) => {
      expect(sandbox.backend).toBe('microvm');
      const bump = await sandbox.exec(['psql', '-qtAX', '-c', 'update counters set n = n + 1 where id = 1 returning n']);
      expect(bump.stdout, bump.stderr).toBe('1\\n');
      const port = await sandbox.exec(['node', '-e', "require('net').createServer().listen(8080, '127.0.0.1', function () { console.log('bound'); this.close(); })"]);
      expect(port.stdout, port.stderr).toBe('bound\\n');
      const file = await sandbox.exec('set -o noclobber; echo ' + i + ' > /tmp/state && cat /tmp/state');
      expect(file.stdout, file.stderr).toBe(i + '\\n');
      await expect(sandbox.url(8080)).rejects.toThrow(/cannot reach a port in its sandbox from the host/);
    });
});
`,
      });
      const r = await execFileP(join(REPO, 'node_modules/.bin/vitest'), ['run'], {
        cwd: dir,
        env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      }).catch((error: { code: number; stdout: string; stderr: string }) => error);
      expect('code' in r ? r.code : 0, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/3 passed/);
      expect(qemuPids()).toEqual([]);
    },
    600_000,
  );
});
