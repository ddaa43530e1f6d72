/**
 * The SDK's operations per backend (issue 26): `npm run bench:sdk`. For each backend, with no
 * service and with PostgreSQL: Sandbox.create (to ready), base.snapshot(), then FORKS times
 * snapshot.fork() + exec('true') (fork to the first command's exit) and kill(), p50/p99; the
 * namespace backend's plain `backend.fork` + exec, measured in the same run, is the baseline
 * the SDK adds to (bench/fork.ts measures it alone). It also prints the whole machine's CPU time
 * per fork + exec + kill: the difference between the two rows is what a sandbox's own
 * PostgreSQL start and stop costs in CPU (the share of a file's overhead it takes). Env: FORKS (default 30; microvm 8),
 * BACKENDS (default `namespace,microvm`; microvm is left out, saying why, where QEMU is missing).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * CPU time the whole machine has spent busy so far, in ms: user, nice, system, irq and softirq
 * from /proc/stat's `cpu` line (in USER_HZ ticks, 100 a second on Linux; proc(5)). Services a
 * sandbox starts run outside this process, so its own process.cpuUsage() would miss them.
 */
function machineCpuMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq] = fields as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return (user + nice + system + irq + softirq) * 10;
}

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
  const cpuFrom = machineCpuMs();
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
  const cpuPerFork = (machineCpuMs() - cpuFrom) / forks;
  row('fork + exec true (SDK)', forkExec);
  row('kill', kill);
  console.log(`  CPU per fork + exec + kill (the whole machine's)  ${ms(cpuPerFork)}`);
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
