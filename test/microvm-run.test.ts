import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli, startCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState } from './support/host.js';
import { microvmMissing, qemuPids } from './support/microvm.js';
import { makeProject, REPO } from './support/project.js';

const why = microvmMissing();
if (why) console.warn(`skipping seedfork run --isolation microvm: ${why}`);

const EXAMPLE = join(REPO, 'examples/todo-api');

/** Guest sockets' directories (src/sandbox/microvm/qemu.ts): every one goes with its guest. */
const socketDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('seedfork-vm-'));

interface Results {
  files: { file: string; tests: { name: string; status: string; message?: string }[] }[];
}

describe.skipIf(why !== undefined)('seedfork run --isolation microvm', () => {
  let before: HostState;
  let sockets: string[];
  beforeAll(() => {
    before = hostState();
    sockets = socketDirs();
    expect(qemuPids()).toEqual([]);
  });
  afterAll(async () => {
    await expectHostClean(before);
    expect(qemuPids()).toEqual([]);
    expect(socketDirs()).toEqual(sockets);
  });

  test('the bundled example suite passes in guests forked from its seeded snapshot', async () => {
    rmSync(join(EXAMPLE, '.seedfork'), { recursive: true, force: true });
    const r = await runCli(EXAMPLE, ['run', '--isolation', 'microvm', '--workers', '2']);
    expect(r.out).toMatch(/isolation microvm/);
    expect(r.out).toMatch(/microvm guests run on (KVM|TCG)/); // the accelerator, said once
    expect(r.out.match(/microvm guests run on/g)).toHaveLength(1);
    expect(r.out).toMatch(/9 files, 18 tests: 18 passed, 0 failed/);
    expect(r.code, r.out).toBe(0);
    expect(readdirSync(join(EXAMPLE, '.seedfork/microvm/sandboxes'))).toEqual([]);
    rmSync(join(EXAMPLE, '.seedfork'), { recursive: true, force: true });
  }, 900_000);

  test('a test changes a global sysctl and the clock in its guest; no other guest and not the host sees it; forks draw their own random bytes; a failed guest is kept for seedfork shell; the audit reads leftovers in guests', async () => {
    const project = makeProject('microvm-suite', {});
    cpSync(join(REPO, 'test/fixtures/microvm-suite'), project, { recursive: true });
    const hostSwappiness = readFileSync('/proc/sys/vm/swappiness', 'utf8');
    const started = Date.now();
    try {
      // one worker: the second file's guest is forked after the first one changed its own
      const r = await runCli(project, ['run', '--workers', '1', '--json', 'results.json']);
      expect(r.out).toMatch(/2 files, 6 tests: 6 passed, 0 failed/);
      expect(r.code, r.out).toBe(0);
      const results = JSON.parse(readFileSync(join(project, 'results.json'), 'utf8')) as Results;
      const restored = results.files.flatMap((f) =>
        f.tests
          .map((t) => /^restored with random ([0-9a-f]{32}) at (\d+)$/.exec(t.name))
          .filter((m) => m !== null),
      );
      expect(restored).toHaveLength(2);
      const [a, b] = restored as [RegExpExecArray, RegExpExecArray];
      // forks differ in what they draw (that the reseed itself makes them differ, read at once after
      // the restore, is checked in microvm.test.ts)
      expect(a[1]).not.toBe(b[1]);
      for (const m of restored) {
        // and its clock set to the host's, not left at the snapshot's
        expect(Number(m[2])).toBeGreaterThanOrEqual(started - 1000);
        expect(Number(m[2])).toBeLessThanOrEqual(Date.now() + 1000);
      }
      expect(readFileSync('/proc/sys/vm/swappiness', 'utf8')).toBe(hostSwappiness);
      expect(new Date().getUTCFullYear()).toBeGreaterThan(2001);

      // --keep-failed keeps a failed file's guest running after seedfork exits; `seedfork shell`
      // reaches it through its agent, with a command or an interactive shell; gc ends it
      writeFileSync(
        join(project, 'fails.test.mjs'),
        `import { writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('fails', () => { writeFileSync('/tmp/clue', 'left by the test'); throw new Error('boom'); });\n`,
      );
      for (const f of ['one.test.mjs', 'two.test.mjs', '.seedfork/timings.json']) rmSync(join(project, f));
      const failed = await runCli(project, ['run', '--keep-failed']);
      expect(failed.code, failed.out).toBe(1);
      const id = /kept sandbox ([0-9a-f]+) of fails\.test\.mjs/.exec(failed.out)?.[1];
      expect(id, failed.out).toBeDefined();
      expect(qemuPids()).toHaveLength(1); // its seedfork process is gone, the guest is not
      expect((await runCli(project, ['list'])).out).toMatch(new RegExp(`^${id}  kept`, 'm'));
      const command = await runCli(project, [
        'shell',
        id!,
        'sh',
        '-c',
        'cat /tmp/clue; echo " in $PWD"; exit 4',
      ]);
      expect(command).toEqual({ code: 4, out: `left by the test in ${project}\n` });
      const shell = startCli(project, ['shell', id!]);
      shell.child.stdin?.end('echo "$((6 * 7)) $(cat /proc/sys/kernel/random/boot_id)"; exit 5\n');
      expect(await shell.exited).toBe(5);
      const [, bootId] = /42 ([0-9a-f-]{36})/.exec(shell.output()) ?? [];
      expect(bootId, shell.output()).not.toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
      expect(bootId).toBeDefined();
      expect((await runCli(project, ['gc'])).out).toMatch(/removed 1 sandbox/);
      expect(qemuPids()).toEqual([]);
      expect((await runCli(project, ['shell', id!, 'true'])).out).toMatch(/no live microvm sandbox/);

      // the audit's leftovers report reads a guest through the same Sandbox methods
      rmSync(join(project, 'fails.test.mjs'));
      writeFileSync(
        join(project, 'leaves.test.mjs'),
        `import { spawn } from 'node:child_process';\nimport { writeFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('leaves things behind', () => {\n  writeFileSync('/var/tmp/left-behind', 'x');\n  writeFileSync('${project}/written.txt', 'y');\n  spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' }).unref();\n});\n`,
      );
      rmSync(join(project, '.seedfork/timings.json'), { force: true });
      const audit = await runCli(project, [
        'audit',
        '--runs',
        'repeat',
        '--repeat',
        '1',
        '--max-reruns',
        '1',
      ]);
      expect(audit.code, audit.out).toBe(0);
      const [leftovers] = JSON.parse(readFileSync(join(project, '.seedfork/audit.json'), 'utf8')).leftovers;
      expect(leftovers.files.created).toEqual(['/var/tmp/left-behind', `${project}/written.txt`].sort());
      expect(leftovers.processes.map((p: { command: string }) => p.command)).toEqual(['sleep 1000']);
      expect(existsSync(join(project, 'written.txt'))).toBe(false);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
    expect(existsSync(project)).toBe(false);
  }, 600_000);
});
