import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SeedforkError } from '../src/errors/seedfork-error.js';
import { MicrovmBackend } from '../src/sandbox/microvm/backend.js';
import { microvmCacheDir } from '../src/sandbox/microvm/vm-snapshot.js';
import type { Sandbox, Snapshot } from '../src/sandbox/types.js';
import { microvmMissing, qemuPids } from './support/microvm.js';
import { makeProject } from './support/project.js';

const why = microvmMissing();
if (why) console.warn(`skipping the microvm sandbox tests: ${why}`);

/** A server the seed starts; it stays up in every fork, and logs each connection. */
const SERVER = `require('net').createServer((s) => { console.log('connection'); s.end('hi\\n'); }).listen(4321, '127.0.0.1', () => console.log('listening'))`;

describe.skipIf(why !== undefined)('a microvm sandbox: the Sandbox interface over the guest agent', () => {
  let project: string;
  let backend: MicrovmBackend;
  let snapshot: Snapshot;
  const notices: string[] = [];

  beforeAll(async () => {
    project = makeProject('microvm-sandbox', {
      'src/app.js': 'module.exports = 1;\n',
      'src/old.js': 'gone soon\n',
      'README.md': 'readme\n',
      'node_modules/dep/index.js': 'module.exports = "dep";\n',
    });
    backend = new MicrovmBackend(join(project, '.seedfork'), {
      ownDirs: [project],
      microvm: { memoryMiB: 512 },
      onNotice: (m) => notices.push(m),
    });
    await backend.preflight();
    snapshot = await backend.createSnapshot({
      key: 'inspect',
      build: async (sb) => {
        await sb.writeFile('/etc/seeded', 'by the seed\n');
        await sb.writeFile('/etc/doomed', 'deleted by a test\n');
        // a build step of the seed: its output in the project is part of the snapshot
        await sb.makeDir(join(project, 'build'));
        await sb.writeFile(join(project, 'build/out.js'), 'built by the seed\n');
        const server = sb.spawn(['node', '-e', SERVER], { cwd: '/', logFile: join(sb.logDir, 'server.log') });
        for (let i = 0; i < 600 && !(await sb.listeningSockets()).some((s) => s.port === 4321); i++)
          await new Promise((r) => setTimeout(r, 100));
        expect(server.exitCode).toBeNull();
      },
    });
  }, 900_000);

  afterAll(async () => {
    const report = await backend?.gc();
    expect(report?.sandboxes ?? []).toEqual([]); // every sandbox was killed by its test
    expect(qemuPids()).toEqual([]);
    if (project) rmSync(project, { recursive: true, force: true });
  });

  const withSandbox = async (body: (sb: Sandbox) => Promise<void>) => {
    const sb = await backend.fork(snapshot, { limits: { outputBytes: 64 * 1024 } });
    try {
      await body(sb);
    } finally {
      await sb.kill();
    }
  };

  test('says which accelerator guests run on', () => {
    expect(notices.filter((n) => /^microvm guests run on (KVM|TCG)/.test(n))).toHaveLength(1);
  });

  test('exec: working directory, environment, user, exit codes, a timeout, the output limit', async () => {
    await withSandbox(async (sb) => {
      const r = await sb.exec(['sh', '-c', 'pwd; echo "$GREETING"; id -un; exit 3'], {
        cwd: join(project, 'src'),
        env: { GREETING: 'hello' },
      });
      expect(r).toMatchObject({ exitCode: 3, timedOut: false });
      expect(r.output).toBe(`${join(project, 'src')}\nhello\nroot\n`);
      expect((await sb.exec(['id', '-un'], { user: 'postgres' })).output).toBe('postgres\n');
      const refused = await sb.exec(['true'], { user: 'nobody-here' });
      expect(refused.exitCode).toBe(127);
      expect(refused.output).toMatch(/no user nobody-here/);
      const slow = await sb.exec(['sleep', '30'], { timeoutMs: 300 });
      expect(slow).toMatchObject({ exitCode: 124, timedOut: true });
      const flood = await sb.exec(['sh', '-c', 'yes flood']);
      expect(flood.limit?.name).toBe('output');
      expect(flood.output.length).toBeLessThanOrEqual(64 * 1024);
      const chunks: string[] = [];
      await sb.exec(['echo', 'streamed'], { onOutput: (c) => chunks.push(c) });
      expect(chunks.join('')).toBe('streamed\n');
    });
  });

  test('files: read, write, make directories with an owner, link, test existence, find by glob', async () => {
    await withSandbox(async (sb) => {
      expect((await sb.readFile('/etc/seeded'))?.toString()).toBe('by the seed\n');
      expect(await sb.readFile('/etc/none')).toBeUndefined();
      expect(await sb.readFile('/etc')).toBeUndefined(); // not a regular file
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      await sb.writeFile('/tmp/big', big, { mode: 0o600 });
      expect((await sb.readFile('/tmp/big'))?.equals(big)).toBe(true);
      expect((await sb.exec(['stat', '-c', '%a', '/tmp/big'])).output).toBe('600\n');
      await sb.makeDir('/srv/a/b', { mode: 0o700, owner: { uid: 65534, gid: 65534 } });
      expect((await sb.exec(['stat', '-c', '%a %u', '/srv/a/b'])).output).toBe('700 65534\n');
      expect(await sb.exists('/srv/a')).toBe(true);
      expect(await sb.exists('/srv/none')).toBe(false);
      await sb.symlink('/srv/a', '/srv/link');
      expect((await sb.exec(['readlink', '/srv/link'])).output).toBe('/srv/a\n');
      expect(await sb.exists('/srv/link/b')).toBe(true);
      await expect(sb.symlink('/srv', '/srv/link')).rejects.toThrow(/cannot link/);
      const found = await sb.findFiles(project, ['src/**', '*.md']);
      expect(found.map((f) => f.path)).toEqual(['README.md', 'src/app.js', 'src/old.js']);
      expect(found[0]!.mtimeMs).toBeGreaterThan(Date.now() - 3_600_000);
      // what the seed wrote in the project is there, over the run's files; not on the host
      expect((await sb.readFile(join(project, 'build/out.js')))?.toString()).toBe('built by the seed\n');
      expect(existsSync(join(project, 'build'))).toBe(false);
      // the project's node_modules came on a disk of its own
      expect((await sb.readFile(join(project, 'node_modules/dep/index.js')))?.toString()).toMatch(/dep/);
    });
  });

  test("the seed's server runs on in every fork: its socket, its process, its log", async () => {
    await withSandbox(async (sb) => {
      expect((await sb.listeningSockets()).some((s) => s.port === 4321 && s.address === '127.0.0.1')).toBe(
        true,
      );
      const processes = await sb.processes();
      expect(processes.some((p) => p.command.startsWith('node -e') && p.command.includes('4321'))).toBe(true);
      expect(processes.every((p) => p.pid !== 1)).toBe(true); // the agent is the guest's init
      const r = await sb.exec(['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/4321; cat <&3']);
      expect(r.output).toBe('hi\n');
      const log = join(sb.logDir, 'server.log');
      for (let i = 0; i < 100 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 50));
      expect(readFileSync(log, 'utf8')).toBe('connection\n'); // this fork's output only
    });
  });

  test('changedFiles: what a test created, changed and deleted since the snapshot, in the guest and the project', async () => {
    await withSandbox(async (sb) => {
      const script = [
        'echo new > /etc/created',
        'echo changed >> /etc/seeded',
        'rm /etc/doomed',
        'mkdir /var/empty-dir',
        'echo tmp > /tmp/scratch',
        `echo out > ${project}/src/out.js`,
        `echo more >> ${project}/README.md`,
        `rm ${project}/src/old.js`,
        `echo cache > ${project}/node_modules/dep/cache`,
      ].join(' && ');
      expect((await sb.exec(['sh', '-c', script])).exitCode).toBe(0);
      const changes = await sb.changedFiles((p) => p.startsWith('/var/log/') || p.startsWith('/var/cache/'));
      expect(changes.created).toEqual(
        expect.arrayContaining([
          '/etc/created',
          '/tmp/scratch',
          '/var/empty-dir/',
          `${project}/node_modules/dep/cache`,
          `${project}/src/out.js`,
        ]),
      );
      expect(changes.changed).toEqual(expect.arrayContaining(['/etc/seeded', `${project}/README.md`]));
      expect([...changes.created, ...changes.changed]).not.toContain(`${project}/build/out.js`); // the snapshot's
      expect(changes.deleted).toEqual(expect.arrayContaining(['/etc/doomed', `${project}/src/old.js`]));
      // nothing the test did not touch: no directory that only holds something new, no mount point
      for (const path of [...changes.created, ...changes.changed, ...changes.deleted])
        expect(path).not.toMatch(/^\/(proc|sys|dev)\/|\/node_modules\/$|^\/etc\/$/);
      const ignored = await sb.changedFiles((p) => p.startsWith('/etc'));
      expect(ignored.created).not.toContain('/etc/created');
      // the host's project is as it was
      expect(existsSync(join(project, 'src/out.js'))).toBe(false);
      expect(readFileSync(join(project, 'README.md'), 'utf8')).toBe('readme\n');
    });
  });

  test('killing a sandbox ends its QEMU and removes its files; gc reaps what a crashed run left', async () => {
    const sb = await backend.fork(snapshot);
    const dir = join(project, '.seedfork/microvm/sandboxes', sb.id);
    expect(existsSync(dir)).toBe(true);
    expect(await backend.list()).toEqual([expect.objectContaining({ id: sb.id, ownerPid: process.pid })]);
    await sb.kill();
    await sb.kill(); // twice is fine
    expect(existsSync(dir)).toBe(false);
    expect(qemuPids()).toEqual([]);
    // a crashed run's sandbox: its owner is gone
    const crashed = join(project, '.seedfork/microvm/sandboxes/crashed');
    mkdirSync(crashed, { recursive: true });
    writeFileSync(
      join(crashed, 'meta.json'),
      JSON.stringify({ id: 'crashed', owner: '999999:1', createdAt: '' }),
    );
    const report = await backend.gc();
    expect(report.sandboxes).toEqual(['crashed']);
    expect(readdirSync(join(project, '.seedfork/microvm/sandboxes'))).toEqual([]);
  });

  test('a restore that fails (a damaged snapshot) is an error that says so, and leaves no guest or files behind', async () => {
    const snapshots = join(project, '.seedfork/microvm/snapshots');
    const [current] = readdirSync(snapshots).filter((n) => n.startsWith('inspect-'));
    const state = join(snapshots, current!, 'state');
    const saved = readFileSync(state);
    writeFileSync(state, saved.subarray(0, 64));
    try {
      const failed = (await backend.fork(snapshot).catch((e: Error) => e)) as SeedforkError;
      expect(failed.message).toMatch(/^restoring the guest from the snapshot in .* failed/);
      expect(failed.hint).toMatch(/delete its directory/);
      expect(failed.details).toMatch(/qemu-system-x86_64: .*(load|migration|state)/i); // QEMU's reason
    } finally {
      writeFileSync(state, saved);
    }
    expect(qemuPids()).toEqual([]);
    expect(readdirSync(join(project, '.seedfork/microvm/sandboxes'))).toEqual([]);
    await withSandbox(async (sb) => expect((await sb.exec(['true'])).exitCode).toBe(0)); // intact again
  });

  test('a guest image that cannot be built (an unknown package) is an error naming the step, and leaves no image', async () => {
    const images = join(microvmCacheDir(), 'images');
    const before = readdirSync(images);
    const broken = new MicrovmBackend(join(project, '.seedfork-broken'), {
      ownDirs: [project],
      microvm: { memoryMiB: 512, packages: ['seedfork-no-such-package'] },
    });
    const failed = await broken
      .createSnapshot({ key: 'broken', build: async () => {} })
      .catch((e: Error) => e);
    expect(failed).toBeInstanceOf(SeedforkError);
    expect((failed as SeedforkError).message).toMatch(
      /mmdebstrap failed while building the microvm guest's root filesystem/,
    );
    expect(readdirSync(images)).toEqual(before);
    rmSync(join(project, '.seedfork-broken'), { recursive: true, force: true });
  }, 300_000);

  test('a guest has no network unless its seed asked for one; a seed with seed.network host reaches the registry, its forks reach nothing', async () => {
    await withSandbox(async (sb) => expect((await sb.exec(['ls', '/sys/class/net'])).output).toBe('lo\n'));
    // a fork's device has nothing behind it: what it sends is dropped, so its connects and DNS
    // queries wait for their timeouts (short ones: a fork with a network reaches the registry
    // within a second, as the seed does)
    const connect = (host: string, seconds = 10) => [
      'timeout',
      String(seconds),
      'bash',
      '-c',
      `exec 3<>/dev/tcp/${host}/443`,
    ];
    const networked = new MicrovmBackend(join(project, '.seedfork-net'), {
      ownDirs: [project],
      microvm: { memoryMiB: 512 },
    });
    let address = '';
    const seeded = await networked.createSnapshot({
      key: 'network',
      shareNetwork: true,
      build: async (sb) => {
        const resolved = await sb.exec(['getent', 'ahostsv4', 'registry.npmjs.org']);
        expect(resolved.exitCode, resolved.output).toBe(0);
        address = resolved.output.split(/\s+/)[0]!;
        const reached = await sb.exec(connect('registry.npmjs.org'));
        expect(reached.exitCode, reached.output).toBe(0);
      },
    });
    const fork = await networked.fork(seeded);
    try {
      expect((await fork.exec(connect(address, 3))).exitCode).not.toBe(0);
      const lookup = ['env', 'RES_OPTIONS=timeout:1 attempts:1', 'getent', 'hosts', 'registry.npmjs.org'];
      expect((await fork.exec(lookup)).exitCode).not.toBe(0);
    } finally {
      await fork.kill();
      await networked.gc({ snapshotBudgetBytes: 0 });
      rmSync(join(project, '.seedfork-net'), { recursive: true, force: true });
    }
  }, 300_000);

  test('gc prunes snapshots beyond the budget, least recently used first, never the current one or one in use', async () => {
    const snapshots = join(project, '.seedfork/microvm/snapshots');
    const [current] = readdirSync(snapshots).filter((n) => n.startsWith('inspect-'));
    // an old snapshot of another seed, last used by a run that ended
    const old = join(snapshots, 'oldseed-0123456789ab');
    mkdirSync(join(old, 'users'), { recursive: true });
    writeFileSync(join(old, 'snapshot.json'), '{}');
    writeFileSync(join(old, 'memory'), Buffer.alloc(1024 * 1024, 1));
    writeFileSync(join(old, 'size'), String(1024 * 1024));
    writeFileSync(join(old, 'users', '999999:1'), '');
    const kept = await backend.gc({ snapshotBudgetBytes: 64 * 1024 ** 3, keepSnapshots: [] });
    expect(kept.snapshots).toEqual([]); // within the budget
    const pruned = await backend.gc({ snapshotBudgetBytes: 0, keepSnapshots: ['not-this-one'] });
    expect(pruned.snapshots).toEqual(['oldseed-0123456789ab']);
    // the current snapshot is in use by this process (it opened it), so it stays at any budget
    expect(readdirSync(snapshots)).toEqual([current]);
  });
});
