import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import type { NamespaceSandbox } from '../src/sandbox/namespace/sandbox.js';
import type { ResourceLimits } from '../src/sandbox/types.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

if (!isRoot) console.warn('skipping sandbox limit tests: sandboxes with limits need root');

const MiB = 1024 * 1024;

describe.skipIf(!isRoot)('sandbox limits at the boundary', () => {
  const stateDir = join(REPO, 'test-output', 'state-limits');
  const scratch = join(REPO, 'test-output', `limits-${process.pid}`);
  const probe = join(REPO, 'test-output', `limits-probe-${process.pid}`);
  const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  let before: HostState;

  beforeAll(() => {
    rmSync(stateDir, { recursive: true, force: true });
    execFileSync('cc', ['-O2', '-o', probe, join(REPO, 'test/fixtures/hostile/probe.c')]);
    before = hostState();
  });

  afterAll(async () => {
    await expectHostClean(before);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(probe, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Run `script` with `sh -c` in a fresh sandbox with `limits`, then kill it. */
  async function inSandbox(limits: ResourceLimits, script: string) {
    const sb = await backend.fork(undefined, { limits });
    try {
      return await sb.exec(['sh', '-c', script], { env, cwd: REPO });
    } finally {
      await sb.kill();
    }
  }

  test('disk: writing just under the quota works; past it writes fail with ENOSPC, overshoot under 1%', async () => {
    const quota = 64 * MiB;
    const file = join(scratch, 'filler');
    const under = await inSandbox(
      { diskBytes: quota },
      `mkdir -p ${scratch} && head -c ${quota - 4 * MiB} /dev/zero > /tmp/a && head -c ${2 * MiB} /dev/zero > ${file} && echo fine`,
    );
    expect(under.output.trim()).toBe('fine');
    expect(under.limit).toBeUndefined();

    const over = await inSandbox(
      { diskBytes: quota },
      `mkdir -p ${scratch} && head -c ${quota + 8 * MiB} /dev/zero > ${file}; echo "exit $?"; stat -c %s ${file}`,
    );
    const [status, size] = over.output.trim().split('\n').slice(-2);
    expect(status).toBe('exit 1');
    expect(over.output).toContain('No space left on device');
    expect(Number(size)).toBeLessThanOrEqual(quota);
    expect(Number(size)).toBeGreaterThan(quota * 0.99);
    expect(over.limit?.name).toBe('disk');
    expect(over.limit?.message).toContain('limits.disk = 64 MiB');
    // the writes stayed in the sandbox
    expect(() => statSync(file)).toThrow();
  });

  test('output: just under the limit is all kept; past it the command is stopped and the limit named', async () => {
    const limit = MiB;
    const under = await inSandbox({ outputBytes: limit }, `head -c ${limit - 1024} /dev/zero | tr '\\0' x`);
    expect(under.exitCode).toBe(0);
    expect(under.output.length).toBe(limit - 1024);
    expect(under.limit).toBeUndefined();

    const over = await inSandbox(
      { outputBytes: limit },
      `head -c ${limit + 1024} /dev/zero | tr '\\0' x; sleep 5`,
    );
    expect(over.exitCode).toBe(137);
    expect(over.durationMs).toBeLessThan(4000);
    expect(over.output.length).toBeLessThan(limit + 200);
    expect(over.output).toContain('output limit reached');
    expect(over.limit).toMatchObject({ name: 'output', value: limit });
    expect(over.limit?.message).toContain('limits.output = 1 MiB');
  });

  test('memory: allocating half the limit works; twice the limit is ended by the OOM killer, and named', async () => {
    const limit = 128 * MiB;
    const under = await inSandbox(
      { memoryBytes: limit },
      `python3 -c "b = bytearray(${64 * MiB}); print('fine')"`,
    );
    expect(under.output.trim()).toBe('fine');
    expect(under.limit).toBeUndefined();

    const over = await inSandbox(
      { memoryBytes: limit },
      `python3 -c "b = bytearray(${256 * MiB}); print('fine')"`,
    );
    expect(over.output).not.toContain('fine');
    expect(over.limit).toMatchObject({ name: 'memory', value: limit });
    expect(over.limit?.message).toContain('limits.memory = 128 MiB');
  });

  test('pids: a few processes under the limit work; past it forks fail and the limit is named', async () => {
    const under = await inSandbox({ pids: 32 }, 'for i in $(seq 10); do sleep 0.3 & done; wait; echo fine');
    expect(under.output.trim()).toBe('fine');
    expect(under.limit).toBeUndefined();

    const over = await inSandbox(
      { pids: 32 },
      'for i in $(seq 60); do sleep 0.3 & done 2>/dev/null; wait; echo done',
    );
    expect(over.limit).toMatchObject({ name: 'pids', value: 32 });
    expect(over.limit?.message).toContain('limits.pids = 32');
  });

  test('sandbox.allowSyscalls gives a suite back a call the filter refuses', async () => {
    const script = `sleep 5 & ${probe} ptrace $!; kill $!`;
    expect((await inSandbox({}, script)).output.trim()).toMatch(
      /^seedfork: ptrace refused in the sandbox.*\nEPERM$/s,
    );
    const allowing = new NamespaceBackend(stateDir, {
      ownDirs: [REPO],
      confinement: { allowSyscalls: ['ptrace'] },
    });
    const sb = await allowing.fork(undefined);
    try {
      expect((await sb.exec(['sh', '-c', script], { env })).output.trim()).toBe('ok');
    } finally {
      await sb.kill();
    }
    const typo = new NamespaceBackend(stateDir, { confinement: { allowSyscalls: ['ptrac'] } });
    await expect(typo.preflight()).rejects.toThrow(/does not refuse: ptrac/);
  });

  test('a sandbox killed from outside while a command runs is reported with the cause', async () => {
    const sb = (await backend.fork(undefined)) as NamespaceSandbox;
    try {
      const running = sb.exec(['sleep', '30'], { env });
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(sb.initPid, 'SIGKILL');
      const r = await running;
      expect(r.sandboxDied).toMatch(/died early: its init was killed by signal 9 from outside the sandbox/);
      await expect(sb.exec(['true'], { env })).rejects.toThrow(/died early/);
    } finally {
      await sb.kill();
    }
  });
});
