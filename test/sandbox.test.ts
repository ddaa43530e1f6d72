import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { RunLock } from '../src/sandbox/namespace/run-lock.js';
import { Zygote } from '../src/sandbox/namespace/zygote.js';
import type { Snapshot, SpawnedProcess } from '../src/sandbox/types.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { REPO } from './support/project.js';

if (!isRoot) console.warn('skipping namespace sandbox tests: they need root (run the suite as root)');

describe.skipIf(!isRoot)('namespace backend', () => {
  const stateDir = join(REPO, 'test-output', 'state-sandbox');
  const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  let before: HostState;
  let snapshot: Snapshot;

  beforeAll(async () => {
    rmSync(stateDir, { recursive: true, force: true });
    before = hostState();
    snapshot = await backend.createSnapshot({
      key: 'test-snapshot',
      build: async (sb) => {
        const r = await sb.exec(['sh', '-c', 'mkdir -p /srv/seeded && echo hello > /srv/seeded/greeting'], {
          env,
        });
        expect(r.exitCode).toBe(0);
      },
    });
  });

  afterAll(async () => {
    await expectHostClean(before);
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('a fork sees the snapshot and its own hostname, loopback and PID namespace', async () => {
    const sb = await backend.fork(snapshot);
    try {
      const r = await sb.exec(
        ['sh', '-c', 'cat /srv/seeded/greeting; hostname; echo $$; ip -o link show lo'],
        { env },
      );
      expect(r.exitCode).toBe(0);
      const [greeting, host, pid, lo] = r.output.trim().split('\n');
      expect(greeting).toBe('hello');
      expect(host).toBe(`sf-${sb.id}`);
      expect(Number(pid)).toBeLessThan(10); // a fresh PID namespace, not the host's numbering
      expect(lo).toMatch(/UP/);
      expect(existsSync('/srv/seeded/greeting')).toBe(false); // the host never saw the seed
    } finally {
      await sb.kill();
    }
  });

  test('exit codes, missing commands, working directory and environment pass through', async () => {
    const sb = await backend.fork(snapshot);
    try {
      expect((await sb.exec(['sh', '-c', 'exit 7'], { env })).exitCode).toBe(7);
      const missing = await sb.exec(['no-such-command-xyz'], { env });
      expect(missing.exitCode).toBe(127);
      expect(missing.output).toMatch(/cannot run 'no-such-command-xyz'/);
      const r = await sb.exec(['sh', '-c', 'pwd; echo $GREETING'], {
        env: { ...env, GREETING: 'hi' },
        cwd: '/srv',
      });
      expect(r.output).toBe('/srv\nhi\n');
      const slow = await sb.exec(['sleep', '30'], { env, timeoutMs: 200 });
      expect(slow.timedOut).toBe(true);
      expect(slow.exitCode).toBe(124);
    } finally {
      await sb.kill();
    }
  });

  test('two sandboxes bind 127.0.0.1:8080 at once', async () => {
    const [a, b] = await Promise.all([backend.fork(snapshot), backend.fork(snapshot)]);
    try {
      const listen = `require('net').createServer().listen(8080,'127.0.0.1',()=>{console.log('bound');process.exit(0)})`;
      const results = await Promise.all(
        [a, b].map((sb) => sb.exec([process.execPath, '-e', listen], { env })),
      );
      for (const r of results) expect(r.output.trim()).toBe('bound');
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  test('traceBinds records every address the command and its children bind, short-lived ones too', async () => {
    const sb = await backend.fork(snapshot);
    try {
      expect(sb.tracesBinds).toBe(true);
      // binds and closes at once: a listening-socket sample would never see these
      const script = `
        const net = require('node:net');
        const { execFileSync } = require('node:child_process');
        const bind = (opts) => new Promise((ok, no) => {
          const s = net.createServer().once('error', no);
          s.listen(opts, () => s.close(ok));
        });
        (async () => {
          await bind({ port: 47201, host: '127.0.0.1' });
          await bind({ port: 0, host: '127.0.0.1' });
          await bind({ port: 47202, host: '::1' });
          await bind({ path: '/tmp/traced.sock' });
          await bind({ path: '\\0seedfork-abstract' });
          // a child process's bind is traced too
          execFileSync(process.execPath, ['-e', "require('node:net').createServer().listen(47203, '127.0.0.1', function () { this.close(); })"]);
        })().catch((e) => { console.error(e); process.exit(1); });
      `;
      const r = await sb.exec(['node', '-e', script], { env, traceBinds: '/tmp/binds.log' });
      expect(r.exitCode, r.output).toBe(0);
      const lines = (await sb.readFile('/tmp/binds.log'))?.toString('utf8').trim().split('\n');
      expect(lines).toEqual([
        'inet 127.0.0.1 47201',
        'inet6 ::1 47202',
        'unix /tmp/traced.sock',
        'unix @seedfork-abstract',
        'inet 127.0.0.1 47203',
      ]);
      // without the option nothing is traced, and binds work as before
      const plain = await sb.exec(['node', '-e', script.replaceAll('traced.sock', 'plain.sock')], { env });
      expect(plain.exitCode, plain.output).toBe(0);
    } finally {
      await sb.kill();
    }
  });

  test('writes are copy-on-write: private to the fork, gone after kill', async () => {
    const dir = join(REPO, 'test-output', 'cow');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'shared.txt'), 'original');
    const [a, b] = await Promise.all([backend.fork(snapshot), backend.fork(snapshot)]);
    try {
      await a.exec(
        ['sh', '-c', `echo changed > ${dir}/shared.txt; echo new > ${dir}/new.txt; rm /srv/seeded/greeting`],
        { env },
      );
      expect(readFileSync(a.hostPath(join(dir, 'shared.txt')), 'utf8')).toBe('changed\n');
      expect(readFileSync(join(dir, 'shared.txt'), 'utf8')).toBe('original');
      expect(existsSync(join(dir, 'new.txt'))).toBe(false);
      const seen = await b.exec(['sh', '-c', `cat ${dir}/shared.txt; ls ${dir}; cat /srv/seeded/greeting`], {
        env,
      });
      expect(seen.output).toBe('originalshared.txt\nhello\n');
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  test("symlink makes a link that resolves inside the sandbox, never through a test's link to the host", async () => {
    const sb = await backend.fork(snapshot);
    try {
      await sb.exec(
        ['sh', '-c', 'mkdir /tmp/real && echo inside > /tmp/real/f && ln -s /etc /tmp/etc-link'],
        {
          env,
        },
      );
      await sb.symlink('/tmp/real', '/tmp/mine');
      expect((await sb.exec(['cat', '/tmp/mine/f'], { env })).output).toBe('inside\n');
      // a link a test planted on the way (/tmp/etc-link -> /etc) leads to the sandbox's /etc,
      // where the host's kernel, following it from /proc/<pid>/root, would reach the host's
      await sb.symlink('/tmp/real', '/tmp/etc-link/seedfork-link');
      expect(existsSync('/etc/seedfork-link')).toBe(false);
      expect((await sb.exec(['readlink', '/etc/seedfork-link'], { env })).output).toBe('/tmp/real\n');
      await expect(sb.symlink('/elsewhere', '/tmp/mine')).rejects.toThrow(/EEXIST/);
    } finally {
      await sb.kill();
    }
  });

  test('/proc/sys is read-only and /tmp is private', async () => {
    writeFileSync('/tmp/seedfork-host-file', 'host');
    const sb = await backend.fork(snapshot);
    try {
      const r = await sb.exec(['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'], { env });
      expect(r.exitCode).not.toBe(0);
      expect(r.output).toMatch(/Read-only/);
      expect((await sb.exec(['ls', '-A', '/tmp'], { env })).output).not.toMatch(/seedfork-host-file/);
      expect((await sb.exec(['sh', '-c', 'echo x > /tmp/mine && ls /tmp/mine'], { env })).exitCode).toBe(0);
      expect(existsSync('/tmp/mine')).toBe(false);
      expect((await sb.exec(['ls', stateDir], { env })).output).toBe(''); // seedfork's state is hidden
    } finally {
      await sb.kill();
      rmSync('/tmp/seedfork-host-file');
    }
  });

  test('spawn with a channel gives the command fd 3 to seedfork and no other fd of ours', async () => {
    const sb = await backend.fork(snapshot);
    try {
      // the command answers on fd 3 what it read there, then lists the fds it holds (stat only:
      // listing /proc/self/fd would open one more)
      const script =
        'read line <&3; echo "got $line" >&3; n=0; while [ $n -lt 64 ]; do [ -e /proc/$$/fd/$n ] && echo $n; n=$((n+1)); done';
      const child = sb.spawn(['sh', '-c', script], { env, channel: true });
      const channel = child.stdio[3] as import('node:net').Socket;
      let answer = '';
      let fds = '';
      channel.setEncoding('utf8');
      channel.on('data', (chunk: string) => (answer += chunk));
      channel.on('error', () => {}); // its exit code says why, should it die before reading
      child.stdout?.on('data', (chunk: Buffer) => (fds += chunk));
      channel.write('ping\n');
      const code = await new Promise((done) => child.on('exit', done));
      await new Promise((done) => (channel.readableEnded ? done(null) : channel.on('end', done)));
      expect(code).toBe(0);
      expect(answer).toBe('got ping\n');
      expect(fds.trim().split('\n').map(Number)).toEqual([0, 1, 2, 3]);
    } finally {
      await sb.kill();
    }
  });

  test('a command writing to a log is started by the helper, not a fork of this process: the log is appended to, and its exit code, SIGTERM and SIGKILL read as a spawned process gives them', async () => {
    const sb = await backend.fork(snapshot);
    try {
      const logFile = join(sb.logDir, 'service.log');
      writeFileSync(logFile, 'an earlier start\n');
      const log = () => readFileSync(logFile, 'utf8');
      const ended = (child: SpawnedProcess) =>
        new Promise<[number | null, string | null]>((done) =>
          child.once('exit', (code, signal) => done([code, signal])),
        );
      const said = async (text: string) => {
        for (let i = 0; i < 200 && !log().includes(text); i++) await new Promise((r) => setTimeout(r, 25));
        expect(log()).toContain(text);
      };
      const once = sb.spawn(['sh', '-c', 'echo "$GREETING from $PWD"; exit 3'], {
        env: { ...env, GREETING: 'hello' },
        cwd: '/srv',
        logFile,
      });
      expect(await ended(once)).toEqual([3, null]);
      expect(log()).toBe('an earlier start\nhello from /srv\n');

      const service = sb.spawn(
        ['sh', '-c', 'trap "echo stopping; exit 0" TERM; echo up; while :; do sleep 0.05; done'],
        { env, logFile },
      );
      await said('up');
      // its sandbox helper is a child of the namespace helper, never of this Node process
      const stat = readFileSync(`/proc/${service.pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      expect(ppid).toBe(Zygote.get().pid);
      expect(service.kill('SIGTERM')).toBe(true);
      expect(await ended(service)).toEqual([0, null]);
      expect(log()).toContain('stopping');

      const stubborn = sb.spawn(['sh', '-c', 'trap "" TERM; echo deaf; while :; do sleep 0.05; done'], {
        env,
        logFile,
      });
      await said('deaf');
      stubborn.kill('SIGKILL');
      expect(await ended(stubborn)).toEqual([null, 'SIGKILL']);
      expect(stubborn.kill('SIGTERM')).toBe(false);

      const missing = sb.spawn(['no-such-command-here'], { env, logFile });
      expect(await ended(missing)).toEqual([127, null]);
      expect(log()).toContain("cannot run 'no-such-command-here'");
    } finally {
      await sb.kill();
    }
  });

  test('kill ends background processes the test left running', async () => {
    const sb = await backend.fork(snapshot);
    await sb.exec(['sh', '-c', 'setsid sleep 1000 > /dev/null 2>&1 < /dev/null &'], { env });
    const sleeping = await sb.exec(['sh', '-c', 'ps -eo comm | grep -c "^sleep"'], { env });
    expect(sleeping.output.trim()).toBe('1');
    await sb.kill();
    await expectHostClean(before);
  });

  test('the pids limit stops a fork bomb inside the sandbox', async () => {
    const sb = await backend.fork(snapshot, { limits: { pids: 20 } });
    try {
      const r = await sb.exec(['sh', '-c', 'for i in $(seq 40); do sleep 5 & done 2>&1; wait'], {
        env,
        timeoutMs: 20_000,
      });
      expect(r.output).toMatch(/fork|Resource temporarily unavailable|Cannot/i);
    } finally {
      await sb.kill();
    }
  });

  test('the memory limit ends a process that allocates past it', async () => {
    const sb = await backend.fork(snapshot, { limits: { memoryBytes: 64 * 1024 ** 2 } });
    try {
      const hog =
        'const a = []; for (let i = 0; i < 40; i++) a.push(Buffer.alloc(16 * 1024 ** 2, 1)); console.log("survived")';
      const r = await sb.exec([process.execPath, '-e', hog], { env });
      expect(r.output).not.toMatch(/survived/);
      expect(r.exitCode).toBe(137); // SIGKILL from the OOM killer
    } finally {
      await sb.kill();
    }
  });

  test('a mount the kernel refuses is reported with a hint, and leaves nothing behind', async () => {
    const notADir = join(stateDir, 'not-a-directory');
    writeFileSync(notADir, '');
    const broken = { key: 'broken-layer', createdAt: '', layers: [notADir] };
    const error = await backend.fork(broken).catch((e) => e);
    expect(error.message).toMatch(/cannot create a sandbox: seedfork-ns: overlay/);
    expect(error.hint).toMatch(/overlayfs refused the mount/);
    expect(readdirSync(join(stateDir, 'sandboxes'))).toEqual([]);
    await expectHostClean(before);
  });

  test('seeding with the host network (seed.network: host) shares it; forks never do', async () => {
    const hostNet = readlinkSync('/proc/self/ns/net');
    let seedNet = '';
    const shared = await backend.createSnapshot({
      key: 'host-network',
      shareNetwork: true,
      build: async (sb) => {
        seedNet = (await sb.exec(['readlink', '/proc/self/ns/net'], { env })).output.trim();
      },
    });
    expect(seedNet).toBe(hostNet);
    const sb = await backend.fork(shared);
    try {
      expect((await sb.exec(['readlink', '/proc/self/ns/net'], { env })).output.trim()).not.toBe(hostNet);
    } finally {
      await sb.kill();
    }
  });

  test('a failing snapshot build leaves no snapshot and nothing running', async () => {
    await expect(
      backend.createSnapshot({
        key: 'broken',
        build: async (sb) => {
          await sb.exec(['sh', '-c', 'sleep 1000 &'], { env });
          throw new Error('seed step exploded');
        },
      }),
    ).rejects.toThrow('seed step exploded');
    expect(await backend.openSnapshot('broken')).toBeUndefined();
    expect(existsSync(join(stateDir, 'snapshots', 'broken.building'))).toBe(false);
    await expectHostClean(before);
  });

  test('a snapshot build that names no owner yet is waited for by a second builder and spared by gc; an old one is removed', async () => {
    const snapshots = join(stateDir, 'snapshots');
    // the moment between a builder's mkdir and its owner file: neither gc nor a second builder may take it
    const young = join(snapshots, 'ownerless.building');
    mkdirSync(young, { recursive: true });
    expect((await backend.gc()).snapshotsInProgress).not.toContain('ownerless');
    expect(existsSync(young)).toBe(true);
    let builtAt = 0;
    const second = backend.createSnapshot({
      key: 'ownerless',
      build: async () => {
        builtAt = Date.now();
      },
    });
    await new Promise((r) => setTimeout(r, 500));
    const ownerWrittenAt = Date.now();
    writeFileSync(join(young, 'owner'), 'ended-run-0'); // a run that holds no lock: taken over now
    expect((await second).key).toBe('ownerless');
    expect(builtAt).toBeGreaterThanOrEqual(ownerWrittenAt);
    expect(existsSync(join(snapshots, 'ownerless', 'owner'))).toBe(false);

    const old = join(snapshots, 'abandoned.building');
    mkdirSync(old);
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(old, twoMinutesAgo, twoMinutesAgo);
    expect((await backend.gc()).snapshotsInProgress).toContain('abandoned');
    expect(existsSync(old)).toBe(false);
  });

  test('gc prunes snapshots beyond the budget, least recently used first, never the current one or one in use', async () => {
    const store = join(REPO, 'test-output', 'state-retention');
    rmSync(store, { recursive: true, force: true });
    const MiB = 1024 * 1024;
    execFileSync(process.execPath, [
      '--import',
      'tsx',
      join(REPO, 'test/support/make-snapshots.mts'),
      store,
      'a:4',
      'b:3',
      'c:2',
      'd:1',
    ]);
    const retention = new NamespaceBackend(store);
    const inUse = await retention.openSnapshot('c'); // the oldest-but-one is in use by this run
    expect(inUse).toBeDefined();
    // pinned: c (in use) and d (current), 3 MiB; then the most recent first: b fits in 6.5 MiB, a does not
    const report = await retention.gc({ snapshotBudgetBytes: 6.5 * MiB, keepSnapshots: ['d'] });
    expect(report.snapshots).toEqual(['a']);
    for (const key of ['b', 'c', 'd']) expect(await retention.openSnapshot(key)).toBeDefined();
    const sb = await retention.fork(inUse);
    try {
      expect((await sb.exec(['stat', '-c', '%s', '/srv/data/blob'], { env })).output.trim()).toBe(
        String(2 * MiB),
      );
    } finally {
      await sb.kill();
    }
    // a budget of nothing still keeps what is pinned: b was opened above by this run, so only
    // a run's end unpins it
    const tight = await retention.gc({ snapshotBudgetBytes: 0, keepSnapshots: ['d'] });
    expect(tight.snapshots).toEqual([]);
    rmSync(store, { recursive: true, force: true });
  });

  test('a helper that dies is reported as an error, never a crash, and the next fork gets a new one', async () => {
    const sb = await backend.fork(snapshot);
    const running = sb.exec(['sleep', '30'], { env });
    // a service the helper started: nothing reports its exit once the helper is gone, but it dies
    // with its sandbox, and its exit comes all the same, as its helper's exit code (137: SIGKILL)
    const service = sb.spawn(['sleep', '30'], { env, logFile: join(sb.logDir, 'service.log') });
    const serviceEnded = new Promise((done) => service.once('exit', (code, signal) => done([code, signal])));
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(Zygote.get().pid!, 'SIGKILL');
    const r = await running;
    expect(r.exitCode).not.toBe(0);
    await expect(sb.exec(['true'], { env })).rejects.toThrow(/died early|namespace helper exited/);
    await sb.kill();
    expect(await serviceEnded).toEqual([137, null]);
    const next = await backend.fork(snapshot);
    expect((await next.exec(['true'], { env })).exitCode).toBe(0);
    await next.kill();
  });

  test("gc removes what a run killed with SIGKILL left, and never a live run's sandbox", async () => {
    const live = await backend.fork(snapshot); // this process's run is live: gc must spare it
    const crashed = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'test/support/hold-sandbox.mts'), stateDir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const id = await new Promise<string>((resolve) =>
      crashed.stdout.once('data', (d) => resolve(String(d).trim())),
    );
    expect(existsSync(join(stateDir, 'sandboxes', id))).toBe(true);
    const run = readFileSync(join(stateDir, 'sandboxes', id, 'run'), 'utf8');
    crashed.kill('SIGKILL');
    await new Promise((resolve) => crashed.once('exit', resolve));
    // its lock goes when its helper notices and exits too, a moment after
    const locks = new RunLock(stateDir);
    for (let i = 0; i < 100 && (await locks.isLive(run)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await locks.isLive(run)).toBe(false);
    const report = await backend.gc();
    expect(report.sandboxes).toContain(id);
    expect(report.sandboxes).not.toContain(live.id);
    expect((await live.exec(['true'], { env })).exitCode).toBe(0);
    expect(existsSync(join(stateDir, 'sandboxes', id))).toBe(false);
    await live.kill();
    await expectHostClean(before);
  });
});
