import { rmSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { Sandbox } from '../src/sdk/index.js';
import { microvmMissing, qemuPids } from './support/microvm.js';
import { makeProject } from './support/project.js';

const why = microvmMissing();
if (why) console.warn(`skipping the SDK's microvm tests: ${why}`);

const psql = (sql: string) => ['psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', sql];

describe.skipIf(why !== undefined)('the SDK on the microvm backend (QEMU; TCG here)', () => {
  const dir = makeProject('sdk-microvm', { 'data.txt': 'host\n' });
  afterAll(() => {
    expect(qemuPids()).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('seed, snapshot with PostgreSQL running, two forks each with the seeded row and their own writes; bad input named', async () => {
    const options = {
      backend: 'microvm' as const,
      dir,
      services: { postgres: { port: 5432, database: 'app' } },
    };
    const base = await Sandbox.create(options);
    let snap: Awaited<ReturnType<Sandbox['snapshot']>> | undefined;
    try {
      expect(base.backend).toBe('microvm');
      const made = await base.exec(psql('create table t (id int primary key); insert into t values (1)'));
      expect(made, made.stderr).toMatchObject({ exitCode: 0 });
      const split = await base.exec('echo out; echo err >&2; exit 3');
      expect(split).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
      snap = await base.snapshot();
    } finally {
      await base.kill();
    }
    const forks = [await snap.fork(), await snap.fork()];
    try {
      for (const f of forks) {
        // the guest was saved with PostgreSQL running: the fork resumes it, nothing restarts
        const r = await f.exec(psql('insert into t values (2); select count(*) from t'));
        expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: '2\n' });
        expect(String(await f.readFile('data.txt'))).toBe('host\n');
      }
      await expect(forks[0]!.url(8080)).rejects.toThrow(
        /the microvm backend cannot reach a port in its sandbox/,
      );
      await expect(snap.delete()).rejects.toThrow(/has 2 live or kept fork\(s\)/);
    } finally {
      await Promise.all(forks.map((f) => f.kill()));
    }
    await expect(forks[0]!.exec('true')).rejects.toThrow(/the sandbox was killed/);
    await snap.delete();
    await expect(snap.fork()).rejects.toThrow(/was deleted: there is nothing to fork/);
  }, 900_000);
});
