/**
 * Shard balance benchmark (issue #3). Generates synthetic suites of 200 test files whose
 * durations are log-normal (heavy-tailed: a few files take many times the median), splits each
 * into N = 4, 8, 16 shards by timing, hash and count from the same data, and prints the shard
 * balance: slowest shard time / mean shard time (1.000 = every shard finishes together; CI
 * wall-clock is the slowest shard). Shard time = the sum of its files' test time plus a
 * per-file sandbox overhead.
 *
 * Two views:
 *   exact: the plan is made from the same durations the shards then take;
 *   noisy: the plan is made from the previous run's timings, and each file's duration this
 *          run differs by a log-normal factor (σ = 0.15, about ±15%), as CI durations do.
 * Each cell is the mean over 20 suites (seeds 1..20), with the worst suite in brackets.
 *
 * Then the local queue: one machine's wall time for a whole suite with W workers taking files
 * in path order (baseline) vs taking the costliest remaining file first (seedfork's queue),
 * on the same suites; the ratio is path order / longest first.
 *
 * Then queue mode across CI machines (`seedfork run --queue`): each of N machines is slower or
 * faster by its own log-normal factor (σ 0.15, about ±15%) on top of the per-file noise, as
 * shared CI runners are. Static timing shards (planned on the last run) against the queue,
 * where every machine asks the real broker (src/server/queue/broker.ts, on an embedded store,
 * driven by a simulated clock) for its next file and each call costs QUEUE_CALL_MS. A machine's
 * realized time is when it finished its last file; printed: max/mean of those (the shard
 * balance), the build's wall time static/queue, and the share of machine time the queue's
 * machines spend waiting at the end for files leased to others (they stay until every file is
 * done, to take over the files of a machine that dies).
 * Goal: timing-based balance < 1.05 for N = 8 (exact), and timing beats hash and count on
 * every N. Exits 1 when a goal is missed. Run with `npm run bench:shards`.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../src/audit/shuffle.js';
import { openHistory } from '../src/history/store.js';
import type { FileCost } from '../src/plan/cost.js';
import { byPath, longestFirst, partition, type ShardStrategy } from '../src/plan/partition.js';
import { balanceOf, listScheduleMs, predictWallMs } from '../src/plan/plan.js';
import { joinQueue, nextFile } from '../src/server/queue/broker.js';

const FILES = 200;
const SUITES = 20;
const MEDIAN_MS = 2000;
const SIGMA = 1.0; // log-normal shape of test durations: p99 ≈ 10x the median
const NOISE_SIGMA = 0.15;
const OVERHEAD_MS = 60; // fork + services per file, the order bench/fork.ts measures
const SHARDS = [4, 8, 16];
const STRATEGIES: ShardStrategy[] = ['timing', 'hash', 'count'];

/** Standard normal by Box–Muller. */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function suite(seed: number): { planned: FileCost[]; actual: Map<string, number> } {
  const random = seededRandom(seed); // every run of the bench sees the same suites
  const planned: FileCost[] = [];
  const actual = new Map<string, number>();
  for (let i = 0; i < FILES; i++) {
    const file = `test/module-${String(i).padStart(3, '0')}.test.ts`;
    const testMs = MEDIAN_MS * Math.exp(SIGMA * normal(random));
    planned.push({
      file,
      ms: testMs + OVERHEAD_MS,
      testMs,
      setupMs: OVERHEAD_MS,
      source: 'recorded',
      sizeBytes: 1000 + i,
    });
    actual.set(file, testMs * Math.exp(NOISE_SIGMA * normal(random)) + OVERHEAD_MS);
  }
  return { planned, actual };
}

function balance(shards: FileCost[][], duration: (c: FileCost) => number): number {
  return balanceOf(shards.map((s) => s.reduce((sum, c) => sum + duration(c), 0)));
}

type Cell = { mean: number; worst: number };
const results: Record<string, Record<number, Record<ShardStrategy, Cell>>> = { exact: {}, noisy: {} };
for (const view of ['exact', 'noisy'] as const) {
  for (const n of SHARDS) {
    results[view]![n] = {} as Record<ShardStrategy, Cell>;
    for (const strategy of STRATEGIES) {
      const values: number[] = [];
      for (let seed = 1; seed <= SUITES; seed++) {
        const { planned, actual } = suite(seed);
        const shards = partition(planned, n, strategy);
        values.push(balance(shards, view === 'exact' ? (c) => c.ms : (c) => actual.get(c.file)!));
      }
      results[view]![n]![strategy] = {
        mean: values.reduce((a, b) => a + b, 0) / values.length,
        worst: Math.max(...values),
      };
    }
  }
}

const cell = (c: Cell) => `${c.mean.toFixed(3)} [${c.worst.toFixed(3)}]`.padStart(17);
console.log(
  `shard balance (slowest / mean shard time), ${FILES} files, log-normal durations (median ${MEDIAN_MS} ms, σ ${SIGMA}), ${OVERHEAD_MS} ms overhead per file`,
);
console.log(`mean over ${SUITES} suites [worst suite]; ratio = hash / timing\n`);
let met = true;
for (const view of ['exact', 'noisy'] as const) {
  console.log(
    view === 'exact'
      ? 'exact: planned on the durations the shards take'
      : `noisy: planned on the last run, durations vary by σ ${NOISE_SIGMA}`,
  );
  console.log(
    `${'N'.padEnd(4)}${STRATEGIES.map((s) => s.padStart(17)).join('')}${'hash/timing'.padStart(13)}${'count/timing'.padStart(14)}`,
  );
  for (const n of SHARDS) {
    const row = results[view]![n]!;
    console.log(
      `${String(n).padEnd(4)}${STRATEGIES.map((s) => cell(row[s])).join('')}${(row.hash.mean / row.timing.mean).toFixed(2).padStart(12)}x${(row.count.mean / row.timing.mean).toFixed(2).padStart(13)}x`,
    );
    if (!(row.timing.mean < row.hash.mean && row.timing.mean < row.count.mean)) met = false;
  }
  console.log('');
}
console.log('local queue: wall time of one machine running a whole suite, mean over the suites');
console.log(
  `${'workers'.padEnd(9)}${'path order'.padStart(12)}${'longest first'.padStart(15)}${'ratio'.padStart(9)}`,
);
for (const workers of [2, 8, 16, 32]) {
  let inOrder = 0;
  let longest = 0;
  for (let seed = 1; seed <= SUITES; seed++) {
    const { planned } = suite(seed);
    inOrder +=
      listScheduleMs(
        [...planned].sort((a, b) => byPath(a.file, b.file)),
        workers,
      ) / SUITES;
    longest += predictWallMs(planned, workers) / SUITES;
  }
  console.log(
    `${String(workers).padEnd(9)}${`${(inOrder / 1000).toFixed(1)} s`.padStart(12)}${`${(longest / 1000).toFixed(1)} s`.padStart(15)}${`${(inOrder / longest).toFixed(2)}x`.padStart(9)}`,
  );
}
console.log('');

// queue mode across CI machines, against static timing shards, under per-machine noise
const MACHINE_SIGMA = 0.15;
const QUEUE_CALL_MS = 20; // one HTTP round trip to seedfork serve in the same region
const QUEUE_SUITES = 10;
const dir = mkdtempSync(join(tmpdir(), 'seedfork-bench-queue-'));
const store = await openHistory(join(dir, 'history'));
console.log(
  `queue mode: N machines, each ${MACHINE_SIGMA * 100}% (σ) slower or faster, files vary by σ ${NOISE_SIGMA}; ${QUEUE_CALL_MS} ms per queue call; mean over ${QUEUE_SUITES} suites [worst]`,
);
console.log(
  `${'N'.padEnd(4)}${'static balance'.padStart(17)}${'queue balance'.padStart(17)}${'wall static/queue'.padStart(19)}${'queue waiting'.padStart(15)}`,
);
const queueCells: Record<number, { staticB: Cell; queueB: Cell }> = {};
for (const n of SHARDS) {
  const staticB: number[] = [];
  const queueB: number[] = [];
  const walls: number[] = [];
  const waiting: number[] = [];
  for (let seed = 1; seed <= QUEUE_SUITES; seed++) {
    const { planned, actual } = suite(seed);
    const random = seededRandom(1000 * n + seed);
    const speed = Array.from({ length: n }, () => Math.exp(MACHINE_SIGMA * normal(random)));
    const took = (file: string, machine: number) => actual.get(file)! * speed[machine]!;
    const staticTimes = partition(planned, n, 'timing').map((shard, m) =>
      shard.reduce((sum, c) => sum + took(c.file, m), 0),
    );
    staticB.push(balanceOf(staticTimes));
    const build = `bench-${n}-${seed}`;
    const secretOf = (m: number) => `secret-of-machine-${m}`.padEnd(32, '.');
    const files = [...planned].sort(longestFirst).map((c) => ({ file: c.file, costMs: c.ms }));
    for (let m = 0; m < n; m++)
      await joinQueue(
        store,
        {
          service: 'bench',
          build,
          job: `m${m}`,
          secret: secretOf(m),
          suiteId: 's',
          files,
          leaseMs: 3_600_000,
        },
        0,
      );
    const free = new Array<number>(n).fill(0); // when each machine next calls the broker
    const lastFile = new Array<number>(n).fill(0); // when it finished its last file
    const finished: string[][] = Array.from({ length: n }, () => []);
    const active = new Set(Array.from({ length: n }, (_, m) => m));
    let waited = 0;
    while (active.size > 0) {
      const m = [...active].reduce((a, b) => (free[b]! < free[a]! ? b : a));
      const now = free[m]! + QUEUE_CALL_MS;
      const answer = await nextFile(
        store,
        { service: 'bench', build, job: `m${m}`, secret: secretOf(m), finished: finished[m]! },
        now,
      );
      finished[m] = [];
      if ('file' in answer) {
        free[m] = now + took(answer.file, m);
        lastFile[m] = free[m]!;
        finished[m] = [answer.file];
      } else if ('waitMs' in answer) {
        free[m] = now + answer.waitMs;
        waited += answer.waitMs + QUEUE_CALL_MS;
      } else {
        free[m] = now;
        active.delete(m);
      }
    }
    queueB.push(balanceOf(lastFile));
    walls.push(Math.max(...staticTimes) / Math.max(...free));
    waited /= free.reduce((a, b) => a + b, 0);
    waiting.push(waited);
  }
  const summary = (values: number[]): Cell => ({
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    worst: Math.max(...values),
  });
  queueCells[n] = { staticB: summary(staticB), queueB: summary(queueB) };
  const meanOf = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(
    `${String(n).padEnd(4)}${cell(queueCells[n]!.staticB)}${cell(queueCells[n]!.queueB)}${`${meanOf(walls).toFixed(3)}x`.padStart(19)}${`${(100 * meanOf(waiting)).toFixed(1)}%`.padStart(15)}`,
  );
}
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log('');

const queueGoal = queueCells[8]!;
const queueMet = queueGoal.queueB.mean < queueGoal.staticB.mean;
console.log(
  `queue mode at N = 8 under per-machine noise: balance ${queueGoal.queueB.mean.toFixed(3)} vs static ${queueGoal.staticB.mean.toFixed(3)} -> ${queueMet ? 'the queue is better balanced' : 'the queue is NOT better balanced'}`,
);
if (!queueMet) process.exitCode = 1;

const goal = results.exact![8]!.timing;
const goalMet = goal.worst < 1.05;
console.log(
  `goal: timing-based balance < 1.05 at N = 8 (exact): worst suite ${goal.worst.toFixed(3)} -> ${goalMet ? 'met' : 'MISSED'}`,
);
console.log(`goal: timing beats hash and count on every N: ${met ? 'met' : 'MISSED'}`);
if (!goalMet || !met) process.exitCode = 1;
