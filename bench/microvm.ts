/**
 * microvm benchmark (issue 14), with the namespace backend measured in the same run on the same
 * machine. Prints, with the accelerator used:
 *   - cold boot of a guest to its agent ready, and saving it as a snapshot;
 *   - fork to agent ready (QEMU start, restore, clock and random pool reseeded), p50 and p99;
 *   - fork to PostgreSQL accepting connections (started in the snapshot; the agent connects to
 *     its port itself), and fork to its first answer to `pg_isready`, a client started in the guest
 *     (under TCG starting any dynamically linked program costs hundreds of ms);
 *   - memory per idle fork: the PSS of the processes the forks added, divided by their number;
 * and for the namespace backend: fork + exec, fork with PostgreSQL ready, memory per idle fork;
 * then the bundled example suite under `seedfork run` with each backend (needs `npm run build`).
 * Goals under TCG: fork to agent ready < 150 ms p50, < 40 MiB PSS per idle fork, fork to
 * PostgreSQL < 250 ms p50. Needs root, QEMU, qemu-utils, mmdebstrap. Run: `npm run bench:microvm`
 * (env: FORKS, default 12; IDLE, default 4).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { sandboxEnvironment } from '../src/run/environment.js';
import { createOverlay, startGuest } from '../src/sandbox/microvm/qemu.js';
import { saveGuest } from '../src/sandbox/microvm/snapshot.js';
import { guestAssets, guestSpec, VmSnapshot } from '../src/sandbox/microvm/vm-snapshot.js';
import { NamespaceBackend } from '../src/sandbox/namespace/backend.js';

const REPO = resolve(import.meta.dirname, '..');
const FORKS = Number(process.env.FORKS ?? 12);
const IDLE = Number(process.env.IDLE ?? 4);
const PG = '/usr/lib/postgresql/15/bin';
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const ms = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** PSS (KiB) of every process whose pid is not in `before`, except this one. */
function addedPss(before: Set<string>): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter(
    (p) => /^\d+$/.test(p) && !before.has(p) && p !== String(process.pid),
  )) {
    try {
      total += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return total;
}
const pids = () => new Set(readdirSync('/proc').filter((p) => /^\d+$/.test(p)));

async function microvm(work: string): Promise<void> {
  const assets = await guestAssets({ onBuild: (what) => console.log(`building ${what}`) });
  console.log(`accelerator: ${assets.accel.accel}${assets.accel.reason ? ` (${assets.accel.reason})` : ''}`);
  // cold boot, timed on its own; the snapshot below boots again to seed
  {
    const dir = join(work, 'cold');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await createOverlay(assets.image.path, 'raw', join(dir, 'disk.qcow2'));
    const t = performance.now();
    const guest = await startGuest(
      {
        ...guestSpec(assets, { memoryMiB: 512, cpus: 1 }),
        disks: [{ id: 'root', file: join(dir, 'disk.qcow2'), format: 'qcow2' }],
        runDir: dir,
        memoryFile: { path: join(dir, 'memory'), share: true },
      },
      120_000,
    );
    console.log(`microvm  cold boot to agent ready   ${ms(performance.now() - t)}`);
    const s = performance.now();
    await saveGuest(guest, join(dir, 'state'));
    console.log(`microvm  snapshot (save)            ${ms(performance.now() - s)}`);
    await guest.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const snapshot = await VmSnapshot.create(
    assets,
    join(work, 'snapshot'),
    { memoryMiB: 512, cpus: 1 },
    async (g) => {
      const sh = async (script: string) => {
        const r = await g.agent.exec(['/bin/sh', '-c', script]);
        if (r.exitCode !== 0) throw new Error(`${script}: ${r.stderr}`);
      };
      await sh(
        `mkdir -p /var/lib/pg && chown postgres /var/lib/pg && runuser -u postgres -- ${PG}/initdb -D /var/lib/pg/data -A trust > /dev/null`,
      );
      await sh(
        `runuser -u postgres -- ${PG}/pg_ctl -D /var/lib/pg/data -o "-c listen_addresses=127.0.0.1 -c fsync=off" -l /var/lib/pg/log -w start > /dev/null`,
      );
    },
  );
  try {
    const ready: number[] = [];
    const accepting: number[] = [];
    const postgres: number[] = [];
    for (let i = 0; i < FORKS + 1; i++) {
      const t = performance.now();
      const guest = await snapshot.fork(join(work, `fork-${i}`));
      const agentReady = performance.now() - t;
      while (!(await guest.agent.probePort(5432))) await new Promise((r) => setTimeout(r, 5));
      const pgAccepting = performance.now() - t;
      for (;;) {
        const r = await guest.agent.exec([`${PG}/pg_isready`, '-q', '-h', '127.0.0.1']);
        if (r.exitCode === 0) break;
      }
      const pgReady = performance.now() - t;
      await guest.kill();
      if (i === 0) continue; // warm-up
      ready.push(agentReady);
      accepting.push(pgAccepting);
      postgres.push(pgReady);
    }
    console.log(
      `microvm  fork to agent ready        p50 ${ms(pct(ready, 0.5))}  p99 ${ms(pct(ready, 0.99))}  (goal < 150 ms p50: ${pct(ready, 0.5) < 150 ? 'met' : 'MISSED'})`,
    );
    console.log(
      `microvm  fork to Postgres accepting p50 ${ms(pct(accepting, 0.5))}  p99 ${ms(pct(accepting, 0.99))}  (goal < 250 ms p50: ${pct(accepting, 0.5) < 250 ? 'met' : 'MISSED'})`,
    );
    console.log(
      `microvm  fork to pg_isready answered p50 ${ms(pct(postgres, 0.5))}  p99 ${ms(pct(postgres, 0.99))}  (a client process started in the guest)`,
    );
    const before = pids();
    const idle = [];
    for (let i = 0; i < IDLE; i++) idle.push(await snapshot.fork(join(work, `idle-${i}`)));
    await new Promise((r) => setTimeout(r, 2000));
    const pss = addedPss(before) / IDLE;
    for (const g of idle) await g.kill();
    console.log(
      `microvm  memory per idle fork (PSS) ${mib(pss).padStart(9)}  (goal < 40 MiB: ${pss < 40 * 1024 ? 'met' : 'MISSED'})`,
    );
  } finally {
    snapshot.remove();
  }
}

async function namespace(): Promise<void> {
  const stateDir = join(REPO, 'test-output', 'bench-microvm-ns');
  rmSync(stateDir, { recursive: true, force: true });
  const backend = new NamespaceBackend(stateDir, { ownDirs: [REPO] });
  const bare = await backend.createSnapshot({ key: 'bench', build: async () => {} });
  const forkExec: number[] = [];
  for (let i = 0; i < FORKS + 1; i++) {
    const t = performance.now();
    const sb = await backend.fork(bare);
    await sb.exec(['true'], { env });
    if (i > 0) forkExec.push(performance.now() - t);
    await sb.kill();
  }
  console.log(
    `namespace fork + exec true          p50 ${ms(pct(forkExec, 0.5))}  p99 ${ms(pct(forkExec, 0.99))}`,
  );
  const root = join(REPO, 'test-output', 'bench-microvm-project');
  mkdirSync(root, { recursive: true });
  const loaded = {
    config: parseConfig({
      seed: { services: { postgres: { port: 5432, database: 'app' } } },
      test: { include: ['x'] },
    }),
    file: join(root, 'seedfork.config.json'),
    root,
  };
  const environment = await sandboxEnvironment(backend, { loaded, baseEnv: env });
  try {
    const pg: number[] = [];
    for (let i = 0; i < FORKS + 1; i++) {
      const t = performance.now();
      const lease = await environment.acquire();
      if (i > 0) pg.push(performance.now() - t);
      await lease.release(false);
    }
    console.log(`namespace fork + Postgres ready     p50 ${ms(pct(pg, 0.5))}  p99 ${ms(pct(pg, 0.99))}`);
    const before = pids();
    const leases = [];
    for (let i = 0; i < IDLE; i++) leases.push(await environment.acquire());
    await new Promise((r) => setTimeout(r, 2000));
    const pss = addedPss(before) / IDLE;
    for (const l of leases) await l.release(false);
    console.log(`namespace memory per idle fork (PSS, with Postgres) ${mib(pss)}`);
  } finally {
    await environment.close();
    await backend.gc();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * The bundled example suite (examples/todo-api, 9 files) with `seedfork run --workers 2` under
 * each backend, the snapshot cached (each timed on its second run): what a user waits for.
 */
function suite(): void {
  const example = join(REPO, 'examples/todo-api');
  const cli = join(REPO, 'dist/cli/main.js');
  const runOnce = (isolation: string) => {
    const t = performance.now();
    const r = spawnSync(process.execPath, [cli, 'run', '--isolation', isolation, '--workers', '2'], {
      cwd: example,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    });
    if (r.status !== 0)
      throw new Error(`seedfork run --isolation ${isolation} failed:\n${r.stdout}${r.stderr}`);
    return performance.now() - t;
  };
  const times: Record<string, number> = {};
  for (const isolation of ['namespace', 'microvm']) {
    runOnce(isolation); // seeds, or reuses the cached snapshot
    times[isolation] = runOnce(isolation);
  }
  console.log(
    `example suite, 9 files, 2 workers: namespace ${ms(times.namespace!)}, microvm ${ms(times.microvm!)} (${(times.microvm! / times.namespace!).toFixed(1)}x)`,
  );
}

if (process.getuid?.() !== 0) {
  console.error('bench/microvm.ts needs root (the namespace backend and the guest image build need it).');
  process.exit(2);
}
const work = join(REPO, 'test-output', 'bench-microvm');
rmSync(work, { recursive: true, force: true });
try {
  await microvm(work);
  await namespace();
  suite();
} finally {
  rmSync(work, { recursive: true, force: true });
}
