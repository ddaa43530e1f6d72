import { describe, expect, test } from 'vitest';
import { type FileResult, type RunResult, summarize } from '../report/types.js';
import type { FileCost } from './cost.js';
import { type MergeInput, mergeResults, shardBalance } from './merge.js';
import { makePlan } from './plan.js';

const suite = ['a.test.js', 'b.test.js', 'c.test.js', 'd.test.js', 'e.test.js'];
const durations: Record<string, number> = {
  'a.test.js': 900,
  'b.test.js': 500,
  'c.test.js': 400,
  'd.test.js': 300,
  'e.test.js': 100,
};

function fileResult(file: string, failed = false): FileResult {
  return {
    file,
    status: failed ? 'failed' : 'passed',
    exitCode: failed ? 1 : 0,
    durationMs: durations[file]!,
    setupMs: 50,
    tests: [
      { name: 'one', classname: file, status: 'passed', durationMs: 1 },
      {
        name: 'two',
        classname: file,
        status: failed ? 'failed' : 'passed',
        durationMs: 2,
        ...(failed ? { message: 'boom' } : {}),
      },
    ],
    output: '',
  };
}

/** Results of every shard of a real plan, as `seedfork run --shard i/N` writes them. */
function shardResults(total: number, runId = 'github-7-1', failing = new Set<string>()): MergeInput[] {
  const costs: FileCost[] = suite.map((file) => ({
    file,
    ms: durations[file]!,
    testMs: durations[file]!,
    setupMs: 0,
    source: 'recorded',
    sizeBytes: 1,
  }));
  const plan = makePlan(costs, { shards: total, strategy: 'timing', workers: 1 });
  return plan.shards.map((s) => {
    const files = s.files.map((c) => fileResult(c.file, failing.has(c.file)));
    const result: RunResult = {
      version: 1,
      startedAt: `2026-01-01T00:00:0${s.index}.000Z`,
      durationMs: s.workMs + 100,
      isolation: 'namespace',
      per: 'file',
      workers: 2,
      runId,
      shard: {
        index: s.index,
        total,
        strategy: 'timing',
        suiteId: plan.suiteId,
        suiteFiles: suite.length,
        files: s.files.map((c) => c.file).sort(),
        predictedMs: s.predictedMs,
      },
      seedMs: 1000,
      files,
      summary: summarize(files),
    };
    return { path: `shard-${s.index}.json`, result };
  });
}

function problemsOf(inputs: MergeInput[]): string {
  try {
    mergeResults(inputs);
  } catch (error) {
    return `${(error as Error).message}\n${(error as { details?: string }).details ?? ''}`;
  }
  throw new Error('merge did not fail');
}

describe('mergeResults', () => {
  test('combines every shard into one result with per-shard times', () => {
    const merged = mergeResults(shardResults(3, 'github-7-1', new Set(['c.test.js'])).reverse());
    expect(merged.files.map((f) => f.file)).toEqual(suite);
    expect(merged.summary).toEqual({
      files: 5,
      filesFailed: 1,
      filesFlaky: 0,
      tests: 10,
      passed: 9,
      failed: 1,
      skipped: 0,
      flaky: 0,
    });
    expect(merged.shards!.map((s) => s.index)).toEqual([1, 2, 3]);
    expect(merged.shards!.reduce((n, s) => n + s.files, 0)).toBe(5);
    expect(merged.durationMs).toBe(Math.max(...merged.shards!.map((s) => s.durationMs)));
    expect(merged.startedAt).toBe('2026-01-01T00:00:01.000Z');
    expect(merged.runId).toBe('github-7-1');
    expect(shardBalance(merged)).toBeGreaterThanOrEqual(1);
  });

  test('merges empty shards (more shards than files)', () => {
    const inputs = shardResults(7);
    expect(inputs.filter((i) => i.result.files.length === 0)).toHaveLength(2);
    expect(mergeResults(inputs).files).toHaveLength(5);
  });

  test('a single whole run merges into itself', () => {
    const [one] = shardResults(1);
    const { shard: _, ...whole } = one!.result;
    expect(mergeResults([{ path: 'r.json', result: whole as RunResult }]).files).toHaveLength(5);
  });

  test('reports missing and duplicated shards', () => {
    const inputs = shardResults(4);
    const text = problemsOf([inputs[0]!, inputs[0]!, inputs[2]!]);
    expect(text).toMatch(/shard 1\/4 is duplicated: shard-1\.json, shard-1\.json/);
    expect(text).toMatch(/missing shards 2\/4, 4\/4/);
    expect(text).toMatch(/ran twice/);
  });

  test('refuses results of different runs, splits or suites', () => {
    const a = shardResults(2, 'github-7-1');
    const b = shardResults(2, 'github-8-1');
    expect(problemsOf([a[0]!, b[1]!])).toMatch(
      /different runs: github-7-1 \(shard-1\.json\); github-8-1 \(shard-2\.json\)/,
    );
    const three = shardResults(3, 'github-7-1');
    expect(problemsOf([a[0]!, three[1]!, three[2]!])).toMatch(/split different file sets/);
  });

  test('refuses a shard that did not finish and a whole run mixed with shards', () => {
    const inputs = shardResults(2);
    const cut = structuredClone(inputs[1]!);
    cut.result.files = cut.result.files.slice(1);
    expect(problemsOf([inputs[0]!, cut])).toMatch(
      /shard 2\/2 \(shard-2\.json\) did not finish: 1 of its \d files have no result/,
    );
    const { shard: _, ...whole } = structuredClone(inputs[0]!.result);
    expect(problemsOf([inputs[0]!, inputs[1]!, { path: 'full.json', result: whole as RunResult }])).toMatch(
      /full\.json is a whole run/,
    );
  });
});

/** A queue-mode job's report: `files` ran in it (failing where asked), `complete` as the broker said. */
function queueJob(job: string, files: string[], complete = true, failing = new Set<string>()): MergeInput {
  const results = files.map((f) => fileResult(f, failing.has(f)));
  return {
    path: `${job}.json`,
    result: {
      version: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: results.reduce((n, f) => n + f.durationMs, 0),
      isolation: 'namespace',
      per: 'file',
      workers: 1,
      runId: 'github-9-1',
      queue: { build: 'github-9-1', job, suiteId: 'q1', files: suite, complete },
      files: results,
      summary: summarize(results),
    },
  };
}

describe('mergeResults of queue-mode jobs', () => {
  test('combines the jobs that together ran every file of the build', () => {
    const merged = mergeResults([
      queueJob('B', ['c.test.js', 'd.test.js']),
      queueJob('A', ['a.test.js', 'b.test.js', 'e.test.js'], true, new Set(['e.test.js'])),
    ]);
    expect(merged.files.map((f) => f.file)).toEqual(suite);
    expect(merged.summary.filesFailed).toBe(1);
    expect(merged.shards).toEqual([
      { index: 1, job: 'A', durationMs: 1500, files: 3, tests: 6 },
      { index: 2, job: 'B', durationMs: 700, files: 2, tests: 4 },
    ]);
  });

  test("a lost job's files that another job ran again keep the complete job's result", () => {
    // A ran a and b, then was lost (its report written on the way down); B and C ran everything left
    const lost = queueJob('A', ['a.test.js', 'b.test.js'], false, new Set(['b.test.js']));
    const merged = mergeResults([
      lost,
      queueJob('B', ['b.test.js', 'c.test.js']),
      queueJob('C', ['a.test.js', 'd.test.js', 'e.test.js']),
    ]);
    expect(merged.files.map((f) => f.file)).toEqual(suite);
    expect(merged.files.find((f) => f.file === 'b.test.js')?.status).toBe('passed'); // B's, not A's
    expect(merged.shards!.map((s) => [s.job, s.files])).toEqual([
      ['A', 0],
      ['B', 2],
      ['C', 3],
    ]);
  });

  test('names the files no job has a result for, and every other problem', () => {
    const text = problemsOf([
      queueJob('A', ['a.test.js', 'b.test.js']),
      queueJob('A', ['c.test.js']),
      queueJob('B', ['b.test.js', 'x.test.js']),
    ]);
    expect(text).toMatch(/job A is given twice: A\.json, A\.json/);
    expect(text).toMatch(/b\.test\.js ran in two complete jobs: A\.json and B\.json/);
    expect(text).toMatch(/B\.json has results for files outside build github-9-1: x\.test\.js/);
    expect(text).toMatch(/2 of the build's 5 files have no result \(d\.test\.js, e\.test\.js\)/);
    const other = queueJob('C', suite);
    other.result.queue = { ...other.result.queue!, build: 'github-10-1' };
    expect(problemsOf([queueJob('A', suite), other])).toMatch(/C\.json is job C of build github-10-1/);
    expect(problemsOf([queueJob('A', suite), shardResults(1)[0]!])).toMatch(
      /shard-1\.json is not a queue-mode job's result/,
    );
  });
});
