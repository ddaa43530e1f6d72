/**
 * Fork benchmark. Prints medians, each next to a baseline measured in the same run:
 *   1. fork a sandbox + run `true` in it   vs  spawn `true` as a plain child process
 *   2. fork a sandbox with Postgres ready  vs  initdb + start of a fresh cluster
 *   3. the same two with the sandbox's hardening (own user namespace, capabilities, seccomp,
 *      disk quota, output cap) on, as always, vs off: what the hardening costs
 * Goals (issue #2, on a 2-core machine): fork+exec median < 20 ms, fork+Postgres < 150 ms.
 * Needs root. Run with `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { sandboxEnvironment, type TestEnvironment } from '../src/run/environment.js';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';
import { DEFAULT_LIMITS } from '../src/sandbox/types.js';
import { expectHostClean, hostState } from '../test/support/host.js';
import { hostPostgres, INITDB_FLAGS } from './host-postgres.js';

const REPO = resolve(import.meta.dirname, '..');
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Run `f` n times after `warmup` runs; each sample is its wall time, or the ms it returns. */
async function time(n: number, f: () => Promise<number | undefined>, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await f();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const measured = await f();
    out.push(measured ?? performance.now() - t);
  }
  return out;
}

function run(argv: string[], options: { uid?: number; gid?: number } = {}): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', env, ...options });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

function row(label: string, samples: number[], baseline: number[], baselineLabel: string, goalMs: number) {
  const m = median(samples);
  const b = median(baseline);
  console.log(
    `${label.padEnd(28)} median ${m.toFixed(1).padStart(6)} ms (p90 ${[...samples].sort((x, y) => x - y)[Math.floor(samples.length * 0.9)]!.toFixed(1)})  ` +
      `| ${baselineLabel.padEnd(26)} median ${b.toFixed(1).padStart(6)} ms | ratio ${(m / b).toFixed(2)}x | goal < ${goalMs} ms: ${m < goalMs ? 'met' : 'MISSED'}`,
  );
}

/** 15 samples of the time to a sandbox with its services ready, then the environment closed. */
async function forkWithPostgres(environment: TestEnvironment): Promise<number[]> {
  try {
    return await time(15, async () => {
      const t = performance.now();
      const lease = await environment.acquire();
      const ready = performance.now() - t;
      await lease.release(false);
      return ready;
    });
  } finally {
    await environment.close();
  }
}

/** What the hardening costs: medians with it on and off, measured in this run. */
function hardeningRow(label: string, on: number[], off: number[]) {
  const a = median(on);
  const b = median(off);
  console.log(
    `${`${label}, hardening`.padEnd(28)} on ${a.toFixed(1).padStart(6)} ms | off ${b.toFixed(1).padStart(6)} ms | cost ${(a - b).toFixed(1)} ms per fork (${(a / b).toFixed(2)}x)`,
  );
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error('bench/fork.ts needs root (sandboxes need it).');
    process.exit(2);
  }
  const before = hostState();
  const stateDir = join(REPO, 'test-output', 'bench-state');
  rmSync(stateDir, { recursive: true, force: true });
  const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
  console.log(`seedfork fork benchmark: ${availableParallelism()} CPUs, node ${process.version}`);

  // 1. fork + exec `true`
  const snapshot = await backend.createSnapshot({ key: 'bench', build: async () => {} });
  const spawnTrue = await time(30, async () => {
    await run(['true']);
    return undefined;
  });
  const killMs: number[] = [];
  const forkTrue = await time(30, async () => {
    const t = performance.now();
    const sb = await backend.fork(snapshot);
    const r = await sb.exec(['true'], { env });
    if (r.exitCode !== 0) throw new Error('true failed in sandbox');
    const forked = performance.now() - t;
    await sb.kill();
    killMs.push(performance.now() - t - forked);
    return forked;
  });
  row('fork + exec true', forkTrue, spawnTrue, 'spawn true (baseline)', 20);
  console.log(`${'kill (teardown)'.padEnd(28)} median ${median(killMs).toFixed(1).padStart(6)} ms`);

  // 3a. hardening on (the default, as above) vs off, interleaved so load drift hits both alike
  const unhardened = new NamespaceBackend(stateDir, { ownDirs: [REPO], confinement: { harden: false } });
  const plainLimits = { pids: DEFAULT_LIMITS.pids, memoryBytes: DEFAULT_LIMITS.memoryBytes };
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < 32; i++) {
    for (const [target, b, limits] of [
      [on, backend, DEFAULT_LIMITS],
      [off, unhardened, plainLimits],
    ] as const) {
      const t = performance.now();
      const sb = await b.fork(snapshot, { limits });
      await sb.exec(['true'], { env });
      if (i >= 2) target.push(performance.now() - t);
      await sb.kill();
    }
  }
  hardeningRow('fork + exec true', on, off);

  // 2. fork with Postgres ready
  const pgConfig = { port: 5432, database: 'app' };
  const root = join(REPO, 'test-output', 'bench-project');
  mkdirSync(root, { recursive: true });
  const loaded = {
    config: parseConfig({ seed: { services: { postgres: pgConfig } }, test: { include: ['x'] } }),
    file: join(root, 'seedfork.config.json'),
    root,
  };
  const forkPg = await forkWithPostgres(await sandboxEnvironment(backend, { loaded, baseEnv: env }));
  // 3b. the same with hardening off (no confinement, no disk quota or output cap)
  const loadedOff = {
    ...loaded,
    config: parseConfig({
      seed: { services: { postgres: pgConfig } },
      test: { include: ['x'] },
      limits: { disk: false, output: false },
    }),
  };
  const forkPgOff = await forkWithPostgres(
    await sandboxEnvironment(unhardened, { loaded: loadedOff, baseEnv: env }),
  );

  const { bin, uid, gid } = hostPostgres();
  const freshCluster = await time(
    5,
    async () => {
      const dir = mkdtempSync('/tmp/seedfork-bench-pg-');
      chownSync(dir, uid, gid);
      const data = join(dir, 'data');
      try {
        const t = performance.now();
        await run([join(bin, 'initdb'), '-D', data, ...INITDB_FLAGS], { uid, gid });
        await run(
          [
            join(bin, 'pg_ctl'),
            '-D',
            data,
            '-w',
            '-o',
            `-p 55432 -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`,
            'start',
          ],
          { uid, gid },
        );
        const ready = performance.now() - t;
        await run([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], { uid, gid });
        return ready;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    1,
  );
  row('fork + Postgres ready', forkPg, freshCluster, 'initdb + start (baseline)', 150);
  hardeningRow('fork + Postgres ready', forkPg, forkPgOff);

  await backend.gc();
  rmSync(stateDir, { recursive: true, force: true });
  await expectHostClean(before);
  console.log(
    'host clean after the bench: no sandbox processes, overlay mounts, cgroups or network namespaces left',
  );
}

await main();
