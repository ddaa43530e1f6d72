/**
 * The SDK's operations per backend (issue 26): `npm run bench:sdk`. For each backend, with no
 * service and with PostgreSQL: Sandbox.create (to ready), base.snapshot(), then FORKS times
 * snapshot.fork() + exec('true') (fork to the first command's exit) and kill(), p50/p99; the
 * namespace backend's plain `backend.fork` + exec, measured in the same run, is the baseline
 * the SDK adds to (bench/fork.ts measures it alone). Env: FORKS (default 30; microvm 8),
 * BACKENDS (default `namespace,microvm`; microvm is left out, saying why, where QEMU is missing).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendFor } from '../src/sandbox/index.js';
import { Sandbox, type SandboxOptions } from '../src/sdk/index.js';
import { microvmMissing } from '../test/support/microvm.js';

const BACKENDS = (process.env.BACKENDS ?? 'namespace,microvm').split(',') as ('namespace' | 'microvm')[];
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Number.NaN;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const row = (what: string, xs: number[]) =>
  console.log(
    `  ${what.padEnd(34)} p50 ${ms(pct(xs, 0.5)).padStart(10)}  p99 ${ms(pct(xs, 0.99)).padStart(10)}`,
  );

async function measure(backend: 'namespace' | 'microvm', withPostgres: boolean, dir: string): Promise<void> {
  const forks = Number(process.env.FORKS ?? (backend === 'microvm' ? 8 : 30));
  const services: SandboxOptions['services'] = withPostgres
    ? { postgres: { port: 5432, database: 'app' } }
    : {};
  console.log(`${backend}, ${withPostgres ? 'PostgreSQL' : 'no service'} (${forks} forks):`);
  let t = performance.now();
  const base = await Sandbox.create({ backend, dir, services, limits: { memory: '512MiB' } });
  const createMs = performance.now() - t;
  await base.exec(withPostgres ? ['psql', '-Xqc', 'create table t (id int)'] : ['true']);
  t = performance.now();
  const snap = await base.snapshot();
  const snapshotMs = performance.now() - t;
  await base.kill();
  console.log(`  create ${ms(createMs)}, snapshot ${ms(snapshotMs)}`);
  const forkExec: number[] = [];
  const kill: number[] = [];
  for (let i = 0; i < forks; i++) {
    t = performance.now();
    const sandbox = await snap.fork();
    const r = await sandbox.exec(['true']);
    forkExec.push(performance.now() - t);
    if (r.exitCode !== 0) throw new Error(`exec true exited ${r.exitCode}: ${r.stderr}`);
    t = performance.now();
    await sandbox.kill();
    kill.push(performance.now() - t);
  }
  row('fork + exec true (SDK)', forkExec);
  row('kill', kill);
  if (backend === 'namespace' && !withPostgres) {
    // the backend underneath, in the same run: what the SDK adds to a fork + exec
    const raw = backendFor('namespace', join(dir, '.seedfork'), { ownDirs: [dir] });
    const plain: number[] = [];
    for (let i = 0; i < forks; i++) {
      t = performance.now();
      const sandbox = await raw.fork(undefined);
      await sandbox.exec(['true']);
      plain.push(performance.now() - t);
      await sandbox.kill();
    }
    row('baseline: backend.fork + exec', plain);
  }
  await snap.delete();
}

const dir = mkdtempSync(join(tmpdir(), 'seedfork-bench-sdk-'));
try {
  for (const backend of BACKENDS) {
    const missing = backend === 'microvm' ? microvmMissing() : undefined;
    if (missing) {
      console.log(`${backend}: left out (${missing})`);
      continue;
    }
    for (const withPostgres of [false, true]) await measure(backend, withPostgres, dir);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
