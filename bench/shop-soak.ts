/**
 * Soak run of the shop example (issue 13, item 6): RUNS runs of `seedfork run --workers W` (a
 * sandbox per file) and RUNS runs with `--isolation none` (the files share one PostgreSQL, one
 * Redis and the host's ports), in one run of this script on one machine. Prints each run's
 * outcome and wall time, then how many passed. Goal: every sandboxed run passes, every shared
 * run fails. Needs root, PostgreSQL's server binaries and redis-server.
 * Run: `npm run soak:shop` (env: RUNS, default 5; WORKERS, default 3).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunResult } from '../src/report/types.js';

const REPO = resolve(import.meta.dirname, '..');
const SHOP = join(REPO, 'examples/shop');
const CLI = join(REPO, 'dist/cli/main.js');
const RUNS = Number(process.env.RUNS ?? 5);
const W = Number(process.env.WORKERS ?? 3);

interface Outcome {
  code: number | null;
  ms: number;
  failed: string[];
}

async function run(args: string[]): Promise<Outcome> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'run', '--workers', String(W), ...args], {
    cwd: SHOP,
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  const ms = performance.now() - started;
  const result = JSON.parse(readFileSync(join(SHOP, '.seedfork/results.json'), 'utf8')) as RunResult;
  const failed = result.files.filter((f) => f.status !== 'passed').map((f) => f.file);
  return { code, ms, failed };
}

async function soak(label: string, args: string[]): Promise<number> {
  let passed = 0;
  for (let i = 1; i <= RUNS; i++) {
    const o = await run(args);
    if (o.code === 0) passed++;
    const outcome = o.code === 0 ? 'passed' : `failed (${o.failed.join(', ') || `exit ${o.code}`})`;
    console.log(`${label} run ${i}/${RUNS}: ${outcome} in ${(o.ms / 1000).toFixed(1)} s`);
  }
  return passed;
}

await run([]); // seed the snapshot once, untimed
const sandboxed = await soak('sandboxed', []);
const shared = await soak('--isolation none', ['--isolation', 'none']);
console.log(`\nsandboxed (--workers ${W}): ${sandboxed}/${RUNS} runs passed (goal: ${RUNS}/${RUNS})`);
console.log(
  `--isolation none (--workers ${W}): ${RUNS - shared}/${RUNS} runs failed (goal: ${RUNS}/${RUNS})`,
);
process.exitCode = sandboxed === RUNS && shared === 0 ? 0 : 1;
