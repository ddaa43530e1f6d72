import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { close, Sandbox, type SandboxOptions, Snapshot } from '../src/sdk/index.js';
import { expectHostClean, type HostState, hostState } from './support/host.js';
import { makeProject } from './support/project.js';

const PG = { postgres: { port: 5432, database: 'app' } };
const psql = (sql: string) => ['psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', sql];

describe('the SDK on the namespace backend: seed a base sandbox, snapshot it, fork per test', () => {
  let dir = '';
  let options: SandboxOptions;
  let before: HostState;
  let snap: Snapshot;
  beforeAll(async () => {
    before = hostState();
    dir = makeProject('sdk', { 'data/seeded.txt': 'from the host\n' });
    options = { dir, services: PG, limits: { memory: '512MiB' } };
    const base = await Sandbox.create(options);
    try {
      const made = await base.exec(
        psql('create table t (id int primary key, who text); insert into t values (1, $$seed$$)'),
      );
      expect(made, made.stderr).toMatchObject({ exitCode: 0, timedOut: false });
      expect((await base.exec('echo seeded > data/seeded.txt')).exitCode).toBe(0);
      snap = await base.snapshot();
      // the base goes on from the snapshot's state, its services started again
      expect((await base.exec(psql('select who from t'))).stdout).toBe('seed\n');
    } finally {
      await base.kill();
    }
  }, 120_000);
  afterAll(async () => {
    await snap?.delete().catch(() => {});
  });

  test('exec keeps stdout and stderr apart, gives the exit code, times out, and names the output limit', async () => {
    await using sandbox = await snap.fork();
    const r = await sandbox.exec('echo out; echo err >&2; exit 3');
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    expect(r.durationMs).toBeGreaterThan(0);
    const slow = await sandbox.exec(['sleep', '30'], { timeoutMs: 300 });
    expect(slow).toMatchObject({ exitCode: 124, timedOut: true });
    expect(slow.durationMs).toBeLessThan(10_000);
    // a background process that keeps the output open does not hold exec up
    const detached = await sandbox.exec('sleep 30 & echo started');
    expect(detached).toMatchObject({ exitCode: 0, stdout: 'started\n' });
    expect(detached.durationMs).toBeLessThan(10_000);
    // the output limit: the command is stopped past it, and the result says which limit
    const capped = await Snapshot.open({
      ...options,
      limits: { memory: '512MiB', output: '64KiB' },
      key: snap.key,
    });
    await using small = await capped!.fork();
    const flood = await small.exec('head -c 10000000 /dev/zero | tr "\\0" x');
    expect(flood.limit).toMatchObject({ name: 'output', value: 64 * 1024 });
    expect(flood.limit?.message).toMatch(/more than 65536 bytes of output \(limits\.output\)/);
    expect(flood.stdout.length).toBeLessThanOrEqual(64 * 1024);
    expect(flood.exitCode).not.toBe(0);
    // env and cwd: the project directory, the services' variables
    const where = await sandbox.exec('pwd; echo $PGPORT $EXTRA', { env: { EXTRA: 'x' } });
    expect(where.stdout).toBe(`${dir}\n5432 x\n`);
  });

  test('forks share nothing: the same row, the same port, the same /tmp file, at once', async () => {
    const forks = await Promise.all([snap.fork(), snap.fork(), snap.fork()]);
    try {
      const results = await Promise.all(
        forks.map(async (f, i) => {
          const row = await f.exec(psql(`insert into t values (2, 'fork ${i}'); select count(*) from t`));
          const port = await f.exec(
            `node -e "require('net').createServer().listen(8080, '127.0.0.1', function () { console.log('bound'); this.close(); })"`,
          );
          const file = await f.exec(`test ! -e /tmp/shared && echo ${i} > /tmp/shared && cat /tmp/shared`);
          return { row: row.stdout, port: port.stdout, file: file.stdout, ids: f.id };
        }),
      );
      for (const [i, r] of results.entries())
        expect(r).toMatchObject({ row: '2\n', port: 'bound\n', file: `${i}\n` });
      expect(new Set(results.map((r) => r.ids)).size).toBe(3);
      // the seeded file is the snapshot's; the host's is as it was
      expect(String(await forks[0]!.readFile('data/seeded.txt'))).toBe('seeded\n');
      expect(readFileSync(join(dir, 'data/seeded.txt'), 'utf8')).toBe('from the host\n');
    } finally {
      await Promise.all(forks.map((f) => f.kill()));
    }
  });

  test('url() and serviceUrl() reach the same port in two forks from this process, each its own', async () => {
    const forks = await Promise.all([snap.fork(), snap.fork()]);
    let urls: string[] = [];
    try {
      urls = await Promise.all(
        forks.map(async (f, i) => {
          const app = `require('http').createServer((q, s) => s.end('fork ${i}')).listen(8080, '127.0.0.1', () => console.log('up'))`;
          expect(
            (await f.exec(`node -e "${app}" > /tmp/app.log 2>&1 & sleep 0.5; cat /tmp/app.log`)).stdout,
          ).toBe('up\n');
          return f.url(8080);
        }),
      );
      expect(urls[0]).not.toBe(urls[1]);
      for (const [i, url] of urls.entries()) expect(await (await fetch(url)).text()).toBe(`fork ${i}`);
      // the seeded database, from a client in this process, one per fork
      const pg = (await import('pg')).default;
      for (const [i, f] of forks.entries()) {
        const client = new pg.Client({ connectionString: await f.serviceUrl('postgres') });
        await client.connect();
        await client.query(`insert into t values (3, 'host ${i}')`);
        const { rows } = await client.query('select count(*)::int as n from t');
        expect(rows[0].n).toBe(2);
        await client.end();
      }
      await expect(forks[0]!.serviceUrl('redis')).rejects.toThrow(
        /no service redis with a URL: the sandbox has postgres/,
      );
    } finally {
      await Promise.all(forks.map((f) => f.kill()));
    }
    // killed: the forward is closed with it
    await expect(fetch(urls[0]!)).rejects.toThrow();
  });

  test('Snapshot.cached seeds once; Snapshot.open finds it from its key', async () => {
    let seeded = 0;
    const key = `sdk-test-${process.pid}`;
    const seed = async (base: Sandbox) => {
      seeded++;
      expect((await base.exec('echo 41 > /var/tmp/answer')).exitCode).toBe(0);
    };
    const first = await Snapshot.cached({ ...options, services: {}, key }, seed);
    const second = await Snapshot.cached({ ...options, services: {}, key }, seed);
    expect(seeded).toBe(1);
    expect(second.key).toBe(key);
    expect((await Snapshot.open({ ...options, services: {}, key }))?.createdAt).toBe(first.createdAt);
    await using f = await second.fork();
    expect((await f.exec('cat /var/tmp/answer')).stdout).toBe('41\n');
    await expect(Sandbox.create({ ...options, services: {}, key })).rejects.toThrow(
      /a snapshot with key sdk-test-\d+ exists already/,
    );
    await f.kill();
    await first.delete();
    expect(await Snapshot.open({ ...options, services: {}, key })).toBeUndefined();
  });

  test('a pool named in the options clones test databases into the snapshot; without one, none', async () => {
    const pooled = (sandbox: Sandbox) =>
      sandbox.exec(psql("select count(*) from pg_database where datname like 'sfpool%'"));
    // the module snapshot's options name no pool: no databases cloned ahead, none announced
    await using plain = await snap.fork();
    expect((await pooled(plain)).stdout).toBe('0\n');
    expect(plain.env.SEEDFORK_PG_POOL_READY).toBeUndefined();
    await using base = await Sandbox.create({
      ...options,
      services: { postgres: { ...PG.postgres, pool: 3 } },
    });
    expect((await base.exec(psql('create table t (n int); insert into t values (7)'))).exitCode).toBe(0);
    const withPool = await base.snapshot();
    try {
      await using f = await withPool.fork();
      expect((await pooled(f)).stdout).toBe('3\n');
      // testDatabase() in the fork takes them: the marker names the snapshot key's template
      expect(f.env.SEEDFORK_PG_POOL_READY).toBe(
        f.env
          .SEEDFORK_SNAPSHOT_KEY!.replace(/[^0-9a-z]/gi, '')
          .toLowerCase()
          .slice(0, 16),
      );
    } finally {
      await base.kill();
      await withPool.delete();
    }
  }, 60_000);

  test('a snapshot taken while a client writes to PostgreSQL forks into a consistent database', async () => {
    await using base = await Sandbox.create(options);
    await base.exec(psql('create table w (n serial primary key, at timestamptz default now())'));
    const writer = await base.exec(
      `nohup sh -c 'while :; do psql -qX -c "insert into w default values" || exit; done' >/dev/null 2>&1 & sleep 1; echo writing`,
    );
    expect(writer.stdout).toBe('writing\n');
    const mid = await base.snapshot();
    try {
      await using f = await mid.fork();
      const count = await f.exec(psql('select count(*) = max(n) from w'));
      expect(count, count.stderr).toMatchObject({ exitCode: 0, stdout: 't\n' });
      expect(Number((await f.exec(psql('select count(*) from w'))).stdout)).toBeGreaterThan(0);
    } finally {
      await base.kill();
      await mid.delete();
    }
  }, 60_000);

  test('bad input gets a clear error and leaves nothing behind', async () => {
    await expect(Sandbox.create({ ...options, limits: { memory: 'lots' } })).rejects.toThrow(
      /limits\.memory/,
    );
    await expect(Sandbox.create({ ...options, key: '../escape' })).rejects.toThrow(/is not a snapshot key/);
    // exec after kill
    const gone = await snap.fork();
    await gone.kill();
    await expect(gone.exec('true')).rejects.toThrow(/the sandbox was killed: it takes no more commands/);
    await gone.kill(); // twice is fine
    // a fork is not snapshotted
    await using f = await snap.fork();
    await expect(f.snapshot()).rejects.toThrow(/snapshot\(\) takes a base sandbox/);
    // deleting a snapshot with a live fork is refused; a deleted snapshot is not forked
    const doomedBase = await Sandbox.create({ ...options, services: {} });
    const doomed = await doomedBase.snapshot();
    await doomedBase.kill();
    const child = await doomed.fork();
    await expect(doomed.delete()).rejects.toThrow(/has 1 live or kept fork\(s\) \(live\).*kill them first/);
    await child.kill();
    await doomed.delete();
    await expect(doomed.fork()).rejects.toThrow(/snapshot sdk-\w+ was deleted: there is nothing to fork/);
    // forks beyond the memory budget: two of 512 MiB fit in 1.2 GiB, the third is refused
    const tight = await Snapshot.open({ ...options, memoryBudget: '1.2GiB', key: snap.key });
    const two = [await tight!.fork()];
    expect(tight!.forksThatFit()).toBe(0); // f above holds 512 MiB of the same process's budget
    await expect(tight!.fork()).rejects.toThrow(
      /no memory for another sandbox: 2 live sandbox\(es\) reserve 1 GiB/,
    );
    // with wait, the third fork waits for memory instead, and gets it when one is killed
    const third = tight!.fork({ wait: true });
    let waited = true;
    void third.then(() => {
      waited = false;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(waited).toBe(true);
    await Promise.all(two.map((s) => s.kill()));
    const got = await third;
    expect(got.status).toBe('live');
    await got.kill();
    expect(tight!.forksThatFit()).toBe(1);
  }, 60_000);

  test('close() kills the live sandboxes and frees the state directory; later forks work again', async () => {
    const runs = join(dir, '.seedfork', 'runs');
    /** This process's run locks that someone holds (`flock -n` fails on a held one). */
    const held = () =>
      readdirSync(runs).filter((name) => spawnSync('flock', ['-n', join(runs, name), 'true']).status !== 0);
    /** Helper processes (seedfork-ns serve, named seedfork-zygote) this process started. */
    const helpers = () =>
      readdirSync('/proc')
        .filter((pid) => /^\d+$/.test(pid))
        .filter((pid) => {
          try {
            const [comm, rest] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ');
            return comm!.endsWith('(seedfork-zygote') && Number(rest!.split(' ')[1]) === process.pid;
          } catch {
            return false; // ended meanwhile
          }
        });
    const a = await snap.fork();
    const b = await snap.fork();
    expect(held().length).toBeGreaterThan(0);
    expect(helpers()).toHaveLength(1);
    await close();
    expect([a.status, b.status]).toEqual(['killed', 'killed']);
    await expect(a.exec('true')).rejects.toThrow(/the sandbox was killed/);
    expect(held()).toEqual([]);
    expect(helpers()).toEqual([]);
    expect(readdirSync(join(dir, '.seedfork', 'sandboxes'))).toEqual([]);
    // the snapshot object forks again: a new helper, the claim taken again
    await using again = await snap.fork();
    expect((await again.exec(psql('select who from t'))).stdout).toBe('seed\n');
    expect(held().length).toBeGreaterThan(0);
    await again.kill();
    await close(); // twice, and with nothing live: fine
    expect(held()).toEqual([]);
  }, 60_000);

  test('the host is clean afterwards: no sandbox, mount, cgroup or network namespace left', async () => {
    await expectHostClean(before);
    const sandboxes = join(dir, '.seedfork', 'sandboxes');
    expect(existsSync(sandboxes) ? readdirSync(sandboxes) : []).toEqual([]);
  });
});
