import { SeedforkError } from '../errors/seedfork-error.js';
import { type FileResult, type RunResult, type ShardSummary, summarize } from '../report/types.js';
import { byPath } from './partition.js';
import { balanceOf } from './plan.js';

/** A result file to merge, with the path it was read from (for error messages). */
export interface MergeInput {
  path: string;
  result: RunResult;
}

/**
 * Check that `inputs` are every shard of one split run, exactly once (or the queue-mode jobs of
 * one build, see {@link mergeQueueJobs}), then combine them into one result: files sorted by
 * path, wall time of the slowest shard, one {@link ShardSummary} per shard. A single unsharded
 * result merges into itself.
 * @throws SeedforkError listing every problem found: results of different runs or suites,
 *   missing or duplicated shards, shards that did not finish, a file run by two shards.
 */
export function mergeResults(inputs: MergeInput[]): RunResult {
  if (inputs.length === 0)
    throw new SeedforkError('nothing to merge', { hint: 'Pass the JSON result file of every shard.' });
  if (inputs.some((i) => i.result.queue)) return mergeQueueJobs(inputs);
  const problems: string[] = [];
  const full = inputs.filter((i) => !i.result.shard);
  if (full.length > 0 && inputs.length > 1) {
    for (const i of full)
      problems.push(`${i.path} is a whole run (no --shard), not one shard: it cannot be merged with others`);
  }
  const runIds = new Map<string, string[]>();
  for (const i of inputs) {
    const id = i.result.runId ?? '(no run id)';
    runIds.set(id, [...(runIds.get(id) ?? []), i.path]);
  }
  if (runIds.size > 1)
    problems.push(
      `the results come from different runs: ${[...runIds].map(([id, paths]) => `${id} (${paths.join(', ')})`).join('; ')}`,
    );
  const sharded = inputs.filter((i) => i.result.shard);
  const first = sharded[0]?.result.shard;
  if (first) {
    for (const i of sharded) {
      const s = i.result.shard!;
      if (s.total !== first.total || s.suiteId !== first.suiteId || s.strategy !== first.strategy)
        problems.push(
          `${i.path} is shard ${s.index}/${s.total} of split ${s.suiteId} (${s.strategy}), but ${sharded[0]!.path} is of ${first.suiteId} with ${first.total} shards (${first.strategy}): they split different file sets`,
        );
    }
    const seen = new Map<number, string[]>();
    for (const i of sharded)
      seen.set(i.result.shard!.index, [...(seen.get(i.result.shard!.index) ?? []), i.path]);
    for (const [index, paths] of [...seen].sort((a, b) => a[0] - b[0]))
      if (paths.length > 1) problems.push(`shard ${index}/${first.total} is duplicated: ${paths.join(', ')}`);
    const missing = Array.from({ length: first.total }, (_, k) => k + 1).filter((k) => !seen.has(k));
    if (missing.length > 0)
      problems.push(
        `missing shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${first.total}`).join(', ')}: no result file for ${missing.length > 1 ? 'them' : 'it'}`,
      );
    for (const i of sharded) {
      const s = i.result.shard!;
      const ran = new Set(i.result.files.map((f) => f.file));
      const notRun = s.files.filter((f) => !ran.has(f));
      if (notRun.length > 0)
        problems.push(
          `shard ${s.index}/${s.total} (${i.path}) did not finish: ${notRun.length} of its ${s.files.length} files have no result (${notRun.slice(0, 3).join(', ')}${notRun.length > 3 ? ', …' : ''})`,
        );
      const assigned = new Set(s.files);
      const stray = i.result.files.filter((f) => !assigned.has(f.file)).map((f) => f.file);
      if (stray.length > 0)
        problems.push(
          `${i.path} has results for files its shard was not given: ${stray.slice(0, 3).join(', ')}`,
        );
    }
  }
  const owner = new Map<string, string>();
  for (const i of inputs) {
    for (const f of i.result.files) {
      const other = owner.get(f.file);
      if (other !== undefined) problems.push(`${f.file} ran twice: in ${other} and in ${i.path}`);
      else owner.set(f.file, i.path);
    }
  }
  if (problems.length > 0)
    throw new SeedforkError(`cannot merge ${inputs.length} result file${inputs.length === 1 ? '' : 's'}`, {
      details: problems.map((p) => `  - ${p}`).join('\n'),
      hint: 'Pass the result of every shard of one CI run exactly once. Shards must plan from the same test files and the same timings file (restore one cache key in every shard job).',
    });

  const ordered = [...inputs].sort((a, b) => (a.result.shard?.index ?? 1) - (b.result.shard?.index ?? 1));
  return combine(
    ordered.map((i) => ({
      input: i,
      files: i.result.files,
      summary: {
        index: i.result.shard?.index ?? 1,
        ...(i.result.shard ? { predictedMs: i.result.shard.predictedMs } : {}),
      },
    })),
  );
}

/**
 * Merge the results of the jobs of one queue-mode build (`run --queue`): together they must
 * cover every file of the build. A file with results from several jobs (its first job was lost,
 * so the queue handed it out again, but that job still wrote a report) keeps the result of the
 * job that completed; two complete jobs with one file is an error.
 * @throws SeedforkError listing every problem: results that are not of queue mode, other builds
 *   or file lists, a job given twice, files of the build without a result, results for files
 *   outside it
 */
export function mergeQueueJobs(inputs: MergeInput[]): RunResult {
  const problems: string[] = [];
  for (const i of inputs.filter((i) => !i.result.queue))
    problems.push(`${i.path} is not a queue-mode job's result (no --queue): it cannot be merged with them`);
  const jobs = inputs.filter((i) => i.result.queue);
  const first = jobs[0]!.result.queue!;
  for (const i of jobs) {
    const q = i.result.queue!;
    if (q.build !== first.build || q.suiteId !== first.suiteId)
      problems.push(
        `${i.path} is job ${q.job} of build ${q.build} (files ${q.suiteId}), but ${jobs[0]!.path} is of build ${first.build} (files ${first.suiteId})`,
      );
  }
  const byJob = new Map<string, string[]>();
  for (const i of jobs) byJob.set(i.result.queue!.job, [...(byJob.get(i.result.queue!.job) ?? []), i.path]);
  for (const [job, paths] of byJob)
    if (paths.length > 1) problems.push(`job ${job} is given twice: ${paths.join(', ')}`);
  const build = new Set(first.files);
  const chosen = new Map<string, { input: MergeInput; result: FileResult }>();
  for (const input of jobs) {
    const stray = input.result.files.filter((f) => !build.has(f.file)).map((f) => f.file);
    if (stray.length > 0)
      problems.push(
        `${input.path} has results for files outside build ${first.build}: ${stray.slice(0, 3).join(', ')}`,
      );
    for (const result of input.result.files) {
      const held = chosen.get(result.file);
      if (!held || (!held.input.result.queue!.complete && input.result.queue!.complete)) {
        chosen.set(result.file, { input, result });
      } else if (held.input.result.queue!.complete && input.result.queue!.complete) {
        problems.push(`${result.file} ran in two complete jobs: ${held.input.path} and ${input.path}`);
      }
    }
  }
  const missing = first.files.filter((f) => !chosen.has(f));
  if (missing.length > 0)
    problems.push(
      `${missing.length} of the build's ${first.files.length} files have no result (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}): a job that ran them stopped before writing its report, or a job's report is missing`,
    );
  if (problems.length > 0)
    throw new SeedforkError(
      `cannot merge ${inputs.length} queue-mode result file${inputs.length === 1 ? '' : 's'}`,
      {
        details: problems.map((p) => `  - ${p}`).join('\n'),
        hint: 'Pass the report of every job of one build exactly once. A job that died is not needed if another job took its files; files no report has must be run again (seedfork run <files>).',
      },
    );
  const ordered = [...jobs].sort((a, b) => a.result.queue!.job.localeCompare(b.result.queue!.job));
  return combine(
    ordered.map((input, k) => ({
      input,
      files: input.result.files.filter((f) => chosen.get(f.file)?.input === input),
      summary: { index: k + 1, job: input.result.queue!.job },
    })),
  );
}

/** One merged result from each input's chosen files. */
function combine(
  parts: {
    input: MergeInput;
    files: FileResult[];
    summary: Omit<ShardSummary, 'durationMs' | 'files' | 'tests'>;
  }[],
): RunResult {
  const inputs = parts.map((p) => p.input);
  const files: FileResult[] = parts.flatMap((p) => p.files).sort((a, b) => byPath(a.file, b.file));
  const shards: ShardSummary[] = parts.map((p) => ({
    ...p.summary,
    durationMs: p.input.result.durationMs,
    files: p.files.length,
    tests: p.files.reduce((n, f) => n + f.tests.length, 0),
  }));
  const isolations = [...new Set(inputs.map((i) => i.result.isolation))];
  const seeds = inputs.map((i) => i.result.seedMs).filter((s): s is number => s !== undefined);
  const runId = inputs[0]!.result.runId;
  return {
    version: 1,
    startedAt: inputs.map((i) => i.result.startedAt).sort()[0]!,
    durationMs: Math.max(...inputs.map((i) => i.result.durationMs)),
    isolation: isolations.join('+'),
    per: inputs[0]!.result.per,
    workers: Math.max(...inputs.map((i) => i.result.workers)),
    ...(runId ? { runId } : {}),
    shards,
    ...(seeds.length > 0 ? { seedMs: Math.round(seeds.reduce((a, b) => a + b, 0) / seeds.length) } : {}),
    files,
    summary: summarize(files),
  };
}

/**
 * Shard balance of a merged result: the slowest shard's wall time over the mean shard's
 * (1 means every shard finished together; wall-clock is the slowest shard). Empty shards count.
 */
export function shardBalance(result: RunResult): number | undefined {
  const times = (result.shards ?? []).map((s) => s.durationMs);
  return times.length < 2 ? undefined : balanceOf(times);
}
