import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FileResult } from '../src/report/types.js';
import { runCli } from './support/cli.js';
import { expectHostClean, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

if (!isRoot) console.warn('skipping the hostile-test fixture: sandboxes need root (run the suite as root)');

const FIXTURE = join(REPO, 'test/fixtures/hostile');

/** What the host's environment holds when the hostile run starts (environment.test.mjs looks). */
const HOST_SECRETS = {
  SEEDFORK_TOKEN: 'hostile-seedfork-token',
  GITHUB_TOKEN: 'hostile-github-token',
  AWS_SECRET_ACCESS_KEY: 'hostile-aws-secret',
  HOSTILE_DENIED: 'hostile-denied',
  HOSTILE_PLAIN: 'plain',
  NPM_TOKEN: 'passed-on-purpose',
};

/** What a hostile test would like to change on the host, read before and after the run. */
function hostKnobs(): Record<string, string> {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '(missing)');
  const pidsBase = '/sys/fs/cgroup/pids/seedfork';
  return {
    swappiness: read('/proc/sys/vm/swappiness'),
    hostname: read('/proc/sys/kernel/hostname'),
    devices: readdirSync('/dev').sort().join(' '),
    seedforkPidsMax: read(join(pidsBase, 'pids.max')),
    ownCgroup: read('/proc/self/cgroup'),
  };
}

describe.skipIf(!isRoot)('hostile tests', () => {
  const project = join(REPO, 'test-output', 'projects', `hostile-${process.pid}`);
  const probe = join(REPO, 'test-output', `probe-${process.pid}`);
  let run: { code: number | null; out: string; ms: number };
  let files: Record<string, FileResult>;
  let before: ReturnType<typeof hostState>;
  let knobs: Record<string, string>;
  /** Whether this kernel runs `int $0x80` calls at all (not where ia32 emulation is off, or under PVM). */
  let hostHasI386Abi = false;
  /** Wall clock minus the monotonic clock, in ms. */
  const clockOffset = () => Date.now() - (performance.timeOrigin + performance.now());
  const offsetBefore = clockOffset();

  beforeAll(async () => {
    rmSync(project, { recursive: true, force: true });
    cpSync(FIXTURE, project, { recursive: true });
    before = hostState();
    knobs = hostKnobs();
    const started = Date.now();
    const r = await runCli(project, ['run', '--workers', '3', '--junit', 'junit.xml'], HOST_SECRETS);
    run = { ...r, ms: Date.now() - started };
    const results = JSON.parse(readFileSync(join(project, '.seedfork/results.json'), 'utf8'));
    files = Object.fromEntries(results.files.map((f: FileResult) => [f.file.replace(/^test\//, ''), f]));
    execFileSync('cc', ['-O2', '-o', probe, join(FIXTURE, 'probe.c')]);
    hostHasI386Abi =
      process.arch === 'x64' && execFileSync(probe, ['int80-getpid'], { encoding: 'utf8' }).trim() === 'ok';
    if (process.arch === 'x64' && !hostHasI386Abi)
      console.warn(
        'the int $0x80 attack is skipped: this kernel has no i386 ABI (ia32_emulation=0 or a PVM guest)',
      );
  }, 180_000);

  afterAll(() => {
    rmSync(project, { recursive: true, force: true });
    rmSync(probe, { force: true });
  });

  test('every attack on the kernel, the init and the lifeline is refused with the expected error', () => {
    // Each test file asserts the errno itself (EPERM, EROFS, ENOENT); here: they all held.
    for (const name of ['kernel.test.mjs', 'neighbours.test.mjs', 'environment.test.mjs']) {
      expect(files[name]?.status, `${name}: ${files[name]?.tests.map((t) => t.message).join('\n')}`).toBe(
        'passed',
      );
    }
    expect(files['kernel.test.mjs']!.tests).toHaveLength(9);
    // the i386 probe runs on x86-64 whose kernel has the i386 ABI (and is skipped, saying why, elsewhere)
    const skipped = files['kernel.test.mjs']!.tests.filter((t) => t.status === 'skipped');
    expect(skipped).toHaveLength(process.arch === 'x64' && hostHasI386Abi ? 0 : 1);
    // The filter names what it refused, once per call, in the file's output.
    expect(files['kernel.test.mjs']!.output).toContain('seedfork: clock_settime refused in the sandbox');
    expect(files['neighbours.test.mjs']!.output).toContain('seedfork: pidfd_getfd refused in the sandbox');
    // io_uring_setup is refused quietly (Node's libuv asks for a ring in every process)
    expect(files['kernel.test.mjs']!.output).not.toContain('io_uring_setup refused');
  });

  test("seedfork's token and secret-looking variables are withheld, passed ones arrive, and the run says which", () => {
    // environment.test.mjs looks in its environment and every /proc/<pid>/{environ,cmdline}
    expect(files['environment.test.mjs']?.status).toBe('passed');
    const line = run.out.split('\n').find((l) => l.includes('withheld from the tests:')) ?? '';
    for (const name of ['AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'HOSTILE_DENIED', 'SEEDFORK_TOKEN'])
      expect(line).toContain(name);
    expect(line).toContain("SEEDFORK_TOKEN (seedfork's own, never passed)");
    for (const name of ['NPM_TOKEN', 'HOSTILE_PLAIN']) expect(line).not.toContain(name);
    expect(run.out).not.toContain('hostile-seedfork-token');
  });

  test('neighbours in the same run pass, and the run ends within its timeouts', () => {
    expect(files['innocent.test.mjs']?.status).toBe('passed');
    expect(run.ms).toBeLessThan(90_000);
    expect(run.code).toBe(1); // the limit files fail the run
  });

  test('each limit stops its test and the report names the limit and its value', () => {
    expect(files['disk.test.mjs']?.status).toBe('error');
    expect(files['disk.test.mjs']?.error).toContain('limits.disk = 32 MiB');
    // /dev/shm and /tmp share the quota: the file's own assertions (ENOSPC, and the control)
    // passed, and the file is an error naming the limit
    expect(files['shm.test.mjs']?.tests.map((t) => t.status)).toEqual(['passed', 'passed']);
    expect(files['shm.test.mjs']?.error).toContain('limits.disk = 32 MiB');
    expect(files['memory.test.mjs']?.error).toContain('limits.memory = 192 MiB');
    expect(files['memory.test.mjs']?.error).toContain('OOM killer');
    expect(files['pids.test.mjs']?.status).toBe('error'); // the runner itself said "passed"
    expect(files['pids.test.mjs']?.error).toContain('limits.pids = 64');
    expect(files['output-flood.test.mjs']?.error).toContain('limits.output = 1 MiB');
    expect(files['output-flood.test.mjs']!.output.length).toBeLessThan(1.1 * 1024 * 1024);
  });

  test('a FIFO in place of the report neither hangs seedfork nor passes', () => {
    const fifo = files['fifo-report.test.mjs'];
    expect(fifo?.status).not.toBe('passed');
    expect(fifo!.durationMs).toBeLessThan(35_000); // test.timeoutMs is 30 s
  });

  test('symbolic links among the artifacts are neither followed nor copied, only the real file', () => {
    expect(files['links.test.mjs']?.status).toBe('passed');
    const copied = (files['links.test.mjs']?.artifacts ?? []).map((a) => a.replace(/.*\/out\//, 'out/'));
    expect(copied.sort()).toEqual(['out/real.txt']);
  });

  test('artifacts with a newline in the name or past PATH_MAX are named as skipped; the plain one is copied', () => {
    const odd = files['odd-artifacts.test.mjs'];
    expect(odd?.status).toBe('passed');
    const copied = (odd?.artifacts ?? []).map((a) => a.replace(/.*\/out\//, 'out/'));
    expect(copied).toEqual(['out/odd/plain.txt']);
    const warnings = odd?.warnings ?? [];
    expect(warnings).toHaveLength(2);
    expect(warnings).toContainEqual(
      'artifact not copied: "out/odd/new\\nline.txt": its name has a newline, which reports, shells and CI systems split on: rename it to copy it',
    );
    expect(warnings.find((w) => w.includes('PATH_MAX'))).toMatch(
      /^artifact not copied: "out\/odd\/0d+…d*\/ \(\d{4} characters\)": its path is longer than PATH_MAX \(4096 bytes\)/,
    );
    // the console shows them as warnings under the file
    expect(run.out).toContain('⚠ artifact not copied: "out/odd/new\\nline.txt"');
  });

  test('control characters in test names reach neither the JUnit XML nor the terminal raw', () => {
    const xml = readFileSync(join(project, 'junit.xml'), 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).toContain('bell \\u0007 and red in a name');
    expect(run.out).not.toContain('\u0007');
    expect(run.out).not.toContain('\u001b');
    expect(run.out).toContain('bell \\u0007 and red in a name');
  });

  test('the host is unchanged afterwards: sysctls, clock, cgroup limits, devices, nothing left behind', async () => {
    expect(hostKnobs()).toEqual(knobs);
    // the wall clock still runs with the monotonic one (a clock_settime would shift one against the other)
    expect(Math.abs(clockOffset() - offsetBefore)).toBeLessThan(1000);
    await expectHostClean(before);
  });

  describe('controls: each probe succeeds where it is allowed, so a broken probe cannot pass', () => {
    const p = (...args: string[]) => execFileSync(probe, args, { encoding: 'utf8' }).trim();

    test('mount calls, in a private mount namespace of the host', () => {
      // In the sandbox /proc/sys and /sys are read-only bind mounts; here /mnt is made one.
      const inPrivate = (script: string) =>
        execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
          encoding: 'utf8',
        }).trim();
      expect(inPrivate(`mount --bind -o ro /mnt /mnt && ${probe} umount /mnt`)).toBe('ok');
      expect(inPrivate(`mount --bind -o ro /mnt /mnt && ${probe} remount-ro-off /mnt`)).toBe('ok');
      expect(inPrivate(`${probe} mount-tmpfs /mnt`)).toBe('ok');
    });

    test('sysctls, device nodes, devices and namespaces, on the host (same values written back)', () => {
      expect(p('rewrite', '/proc/sys/vm/swappiness')).toBe('ok');
      const node = join(REPO, 'test-output', `node-${process.pid}`);
      expect(p('mknod', node)).toBe('ok');
      expect(p('open', '/dev/null')).toBe('ok');
      if (existsSync('/dev/kvm')) expect(p('open', '/dev/kvm')).toBe('ok');
      else console.warn('control for /dev/kvm skipped: this host has no /dev/kvm');
      expect(p('unshare-net')).toBe('ok');
      const uring = '/proc/sys/kernel/io_uring_disabled'; // absent before Linux 6.6: enabled
      if (!existsSync(uring) || readFileSync(uring, 'utf8').trim() === '0') expect(p('io-uring')).toBe('ok');
      else console.warn('control for io_uring skipped: this kernel disables it (kernel.io_uring_disabled)');
      if (process.arch === 'x64') {
        const int80 = p('int80-getpid');
        if (int80 === 'no-i386-abi')
          console.warn(
            'control for int $0x80 skipped: this kernel has no i386 ABI (ia32_emulation=0 or a PVM guest)',
          );
        else expect(int80).toBe('ok');
      }
    });

    test('cgroup limits and cgroup moves, on a cgroup of our own', () => {
      const base = existsSync('/sys/fs/cgroup/pids/cgroup.procs') ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
      const dir = join(base, `seedfork-control-${process.pid}`);
      mkdirSync(dir);
      try {
        if (existsSync(join(dir, 'pids.max'))) expect(p('rewrite', join(dir, 'pids.max'))).toBe('ok');
        expect(p('join-cgroup', dir)).toBe('ok');
      } finally {
        rmdirSync(dir);
      }
    });

    test("another process's file descriptors and tracing it, on a child of ours", async () => {
      const child: ChildProcess = spawn('sleep', ['30']);
      try {
        await new Promise((resolve) => child.once('spawn', resolve));
        expect(p('pidfd-getfd', String(child.pid), '1')).toBe('ok');
        expect(p('ptrace', String(child.pid))).toBe('ok');
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
