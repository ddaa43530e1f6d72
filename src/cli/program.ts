import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { ALL_RUNS, type AuditRunSelection } from '../audit/plan.js';
import { type AuditReport, FLAKY } from '../audit/types.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { DEFAULT_SNAPSHOT_BUDGET } from '../config/schema.js';
import { seedforkVersion } from '../config/seedfork-version.js';
import { parseSize } from '../config/size.js';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import { parseDuration } from '../history/duration.js';
import { byPath } from '../plan/partition.js';
import { parseShard } from '../plan/shard-spec.js';
import { failsTheBuild } from '../report/types.js';
import type { AttachCommand, BackendName } from '../sandbox/index.js';
import {
  addHistoryCommands,
  queueOptionsFor,
  recordAuditInHistory,
  recordInHistory,
  runQuarantine,
} from './history-commands.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const shardByOption = () =>
  new Option('--shard-by <strategy>', 'split by recorded timings, by a hash of the path, or round-robin')
    .choices(['timing', 'hash', 'count'])
    .default('timing');

function fail(error: unknown): never {
  if (error instanceof CancelledError) {
    process.stderr.write(`${pc.yellow('seedfork: cancelled; every sandbox was removed')}\n`);
    process.exit(130);
  }
  if (error instanceof SeedforkError) {
    process.stderr.write(`${pc.red('seedfork: error:')} ${error.message}\n`);
    if (error.details) process.stderr.write(`${error.details}\n`);
    if (error.hint) process.stderr.write(`${pc.yellow('hint:')} ${error.hint}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `${pc.red('seedfork: internal error (please report it):')}\n${(error as Error)?.stack ?? String(error)}\n`,
  );
  process.exit(3);
}

/** The state directory `--state-dir` names, else the config's (with the config, loaded). */
async function projectState(opts: {
  config?: string;
  stateDir?: string;
}): Promise<{ loaded?: LoadedConfig; stateDir: string }> {
  if (opts.stateDir) return { stateDir: resolve(opts.stateDir) };
  const loaded = await loadConfig(process.cwd(), opts.config);
  return { loaded, stateDir: resolve(loaded.root, loaded.config.stateDir) };
}

async function stateDirOf(opts: { config?: string; stateDir?: string }): Promise<string> {
  return (await projectState(opts)).stateDir;
}

// Commands import what they run when they run, so that `seedfork --version` or `seedfork run`
// loads none of the other commands' modules. The config's modules load up front: nearly every
// command reads the config, and history-commands.ts imports them too.

/** The runner integrations' file workers (Jest's and Vitest's worker zygotes), for run and audit. */
async function fileWorkers() {
  return (await import('../integrations/file-workers.js')).runnerFileWorkers;
}

const program = new Command('seedfork')
  .description('Seed once, fork a copy-on-write sandbox per test file, run in parallel.')
  .version(seedforkVersion())
  .showHelpAfterError()
  // lets `shell <id> sh -c '…'` pass everything after the id to the command (passThroughOptions)
  .enablePositionalOptions();

program
  .command('run')
  .description('seed (or reuse the cached snapshot), fork a sandbox per test file, run the suite')
  .argument('[filters...]', 'only test files whose path contains one of these')
  .option('-c, --config <file>', 'config file (default: seedfork.config.{ts,mts,mjs,js,json})')
  .addOption(
    new Option(
      '--isolation <mode>',
      'namespace (sandboxes), microvm (a guest kernel per sandbox) or none (shared host, the baseline)',
    ).choices(['namespace', 'microvm', 'none']),
  )
  .option('-w, --workers <n>', 'sandboxes running at once (default: number of CPUs)', positiveInt)
  .addOption(
    new Option(
      '--per <unit>',
      'one sandbox per test file, or per worker (shard: old name of worker)',
    ).choices(['file', 'worker', 'shard']),
  )
  .option('--junit <path>', 'write a merged JUnit XML report here')
  .option('--json <path>', 'write the JSON result file here (default: .seedfork/results.json)')
  .option('--keep-failed', 'keep the sandboxes of failed files alive for `seedfork shell`')
  .option('-v, --verbose', "stream every runner's output as it comes, each line prefixed with its file")
  .option(
    '-u, --update-snapshots',
    "pass the runner's snapshot-update flag; updated snapshot files of passing files are copied back",
  )
  .option(
    '--retries <n>',
    'rerun a failed file up to n times in fresh forks; passing then is reported as flaky',
    nonNegativeInt,
  )
  .option('--shard <i/N>', "run only shard i of N (one CI job's share, balanced by recorded timings)")
  .addOption(shardByOption())
  .option('--timings <path>', 'timings file to plan with and update (default: .seedfork/timings.json)')
  .option(
    '--timings-from <junit>',
    'also read durations from an earlier JUnit XML report (repeatable)',
    collect,
  )
  .option('--record-timings', 'update the timings file (the default, except with --shard: merge does it)')
  .option('--no-record-timings', 'leave the timings file as it is')
  .option('--run-id <id>', "id shared by a CI run's shards (default: from the CI's environment)")
  .option(
    '--queue <url>',
    'take files one by one from the queue of `seedfork serve` at this URL, shared by the jobs of this CI run (token: SEEDFORK_TOKEN)',
  )
  .option(
    '--service <name>',
    'the service whose queue this is (default: config history.service, else the directory name)',
  )
  .option('--queue-job <id>', "this job's id in the queue (default: host, pid and a random part)")
  .option(
    '--queue-lease <duration>',
    "hand this job's files to other jobs when not heard from for this long",
    '30s',
  )
  .action(async (filters: string[], opts) => {
    const shard = opts.shard !== undefined ? parseShard(opts.shard) : undefined;
    const loaded = await loadConfig(process.cwd(), opts.config);
    const [{ run }, { consoleReporter }, runnerFileWorkers] = await Promise.all([
      import('../run/run.js'),
      import('./console-reporter.js'),
      fileWorkers(),
    ]);
    const queue = opts.queue ? queueOptionsFor(loaded, opts) : undefined;
    const controller = new AbortController();
    onInterrupt(controller);
    const reporter = consoleReporter(process.stdout, { verbose: opts.verbose === true });
    try {
      const result = await run(loaded, {
        // read from the history when a test first fails; a history that cannot be read costs
        // the quarantine list, not the run
        loadQuarantine: () =>
          runQuarantine(loaded).catch((error: Error) => {
            process.stderr.write(pc.yellow(`seedfork: warning: no quarantine list: ${error.message}\n`));
            return undefined;
          }),
        isolation: opts.isolation,
        workers: opts.workers,
        per: opts.per,
        junit: opts.junit,
        json: opts.json,
        keepFailed: opts.keepFailed,
        updateSnapshots: opts.updateSnapshots,
        retries: opts.retries,
        filter: filters,
        shard,
        ...(queue ? { queue } : {}),
        shardBy: opts.shardBy,
        timings: opts.timings,
        timingsFrom: opts.timingsFrom,
        recordTimings: opts.recordTimings,
        runId: opts.runId,
        // Jest's and Vitest's files through the runner's own worker forked into each sandbox
        // (the integrations' worker zygotes), not the runner's CLI per file
        fileWorkers: runnerFileWorkers,
        signal: controller.signal,
        onEvent: reporter.onEvent,
      });
      reporter.stop();
      if (!shard && !queue) await recordInHistory(loaded, result); // merge records the whole
      process.exit(result.files.some(failsTheBuild) ? 1 : 0);
    } catch (error) {
      reporter.stop();
      fail(error);
    }
  });

function runList(value: string): AuditRunSelection[] {
  const list = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  const bad = list.filter((v) => !ALL_RUNS.includes(v as AuditRunSelection));
  if (bad.length > 0 || list.length === 0)
    throw new InvalidArgumentError(`expected a comma-separated list of ${ALL_RUNS.join(', ')}`);
  return list as AuditRunSelection[];
}

function onInterrupt(controller: AbortController): void {
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130); // helpers see their lifeline close and kill their sandboxes
    process.stderr.write(`\n${pc.yellow(`seedfork: ${signal}, stopping tests and removing sandboxes…`)}\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

program
  .command('audit')
  .description(
    'find flaky tests: classify order-dependent, shared-state and non-deterministic ones, name polluters',
  )
  .argument('[filters...]', 'only test files whose path contains one of these')
  .option('-c, --config <file>', 'config file')
  .option('--runs <list>', `audit runs to do (default: all): ${ALL_RUNS.join(',')}`, runList)
  .option(
    '--repeat <n>',
    'isolated runs of the whole suite (each file alone in a fresh sandbox)',
    positiveInt,
    3,
  )
  .option(
    '--quick',
    'one isolated run, one reverse order and one shared run, no reruns: about 4 plain runs, with the lower confidence the report states',
  )
  .option('--seed <n>', 'seed of the shuffled order (printed by every audit)', nonNegativeInt)
  .option('-w, --workers <n>', 'workers of isolated runs and of the max-workers shared run', positiveInt)
  .option('--max-runs <n>', 'sandboxed runs the polluter searches may use in all', positiveInt, 200)
  .option(
    '--max-reruns <n>',
    'file runs the adaptive isolated reruns may use in all (tests whose class rests on isolated runs that all agreed)',
    positiveInt,
    60,
  )
  .option(
    '--timeout <seconds>',
    'stop running and searching after this long; report what was concluded',
    positiveInt,
    1800,
  )
  .option('--json <path>', 'JSON report (default: .seedfork/audit.json)')
  .option('--html <path>', 'HTML report (default: .seedfork/audit.html)')
  .option('--ignore <glob>', 'sandbox paths the leftovers report ignores (repeatable)', collect)
  .option(
    '--strict',
    'exit 1 on conflicts too (files that use the same port, path or table), not only on flaky tests',
  )
  .action(async (filters: string[], opts) => {
    const loaded = await loadConfig(process.cwd(), opts.config);
    const [{ audit }, { auditProgress, formatAudit }, runnerFileWorkers] = await Promise.all([
      import('../audit/audit.js'),
      import('./audit-text.js'),
      fileWorkers(),
    ]);
    const controller = new AbortController();
    onInterrupt(controller);
    const progress = auditProgress(process.stdout);
    const report = await audit(loaded, {
      filter: filters,
      runs: opts.runs,
      repeat: opts.repeat,
      quick: opts.quick === true,
      seed: opts.seed,
      workers: opts.workers,
      maxRuns: opts.maxRuns,
      maxReruns: opts.maxReruns,
      timeoutMs: opts.timeout * 1000,
      json: opts.json,
      html: opts.html,
      ignore: opts.ignore,
      fileWorkers: runnerFileWorkers,
      signal: controller.signal,
      onEvent: (event) => {
        progress(event);
        if (event.type === 'done') process.stdout.write(formatAudit(event.report, event.paths));
      },
    });
    await recordAuditInHistory(loaded, report);
    const flaky = report.tests.some((t) => FLAKY.includes(t.category));
    process.exit(flaky || (opts.strict && report.conflicts.length > 0) ? 1 : 0);
  });

program
  .command('check')
  .description(
    'the pre-merge checklist of a parallel suite: 1 and max workers, shuffled, alone vs together, shared resources, shard balance, artifacts',
  )
  .argument('[filters...]', 'only test files whose path contains one of these')
  .option('-c, --config <file>', 'config file')
  .option(
    '--audit <path>',
    'audit JSON to judge from (default: .seedfork/audit.json, when it is of this suite and config)',
  )
  .option('--max-age <duration>', 'oldest audit to reuse; an older one is done again', '7d')
  .option('--shards <n>', 'shard count to judge the balance of (default: the recommended one)', positiveInt)
  .option(
    '--shard-setup <seconds>',
    'time a CI job spends before its first test (default: the seed time recorded, at least 30 s)',
    positiveInt,
  )
  .option('--json', 'print the checklist as JSON')
  .action(async (filters: string[], opts) => {
    const loaded = await loadConfig(process.cwd(), opts.config);
    const [
      { audit },
      { checkSuite, configHash },
      { auditProgress },
      { formatCheck },
      { adapterFor },
      { loadSuite },
      { resolveWorkers },
      runnerFileWorkers,
    ] = await Promise.all([
      import('../audit/audit.js'),
      import('../audit/check.js'),
      import('./audit-text.js'),
      import('./check-text.js'),
      import('../adapters/index.js'),
      import('../plan/suite.js'),
      import('../run/run.js'),
      fileWorkers(),
    ]);
    const suite = loadSuite(loaded, { filter: filters });
    const adapter = adapterFor(loaded.config.test.runner);
    const path = resolve(loaded.root, opts.audit ?? '.seedfork/audit.json');
    let report = reusableAudit(path, suite.files, configHash(loaded.config), parseDuration(opts.maxAge));
    let source = `the audit at ${path} (${report?.startedAt})`;
    if (!report) {
      const controller = new AbortController();
      onInterrupt(controller);
      const progress = opts.json ? () => {} : auditProgress(process.stdout);
      report = await audit(loaded, {
        filter: filters,
        json: path,
        fileWorkers: runnerFileWorkers,
        signal: controller.signal,
        onEvent: progress,
      });
      source = `a new audit (${path})`;
    }
    const checked = checkSuite(report, suite.costs, {
      workers: resolveWorkers(loaded.config.workers),
      setupMs:
        opts.shardSetup !== undefined ? opts.shardSetup * 1000 : Math.max(suite.timings.seedMs ?? 0, 30_000),
      ...(opts.shards ? { shards: opts.shards } : {}),
      artifacts: [...(adapter.artifacts ?? []), ...loaded.config.test.artifacts],
    });
    process.stdout.write(opts.json ? `${JSON.stringify(checked, null, 2)}\n` : formatCheck(checked, source));
    process.exit(checked.ok ? 0 : 1);
  });

/** The audit at `path` when it is of these files under this config and younger than `maxAgeMs`. */
function reusableAudit(
  path: string,
  files: string[],
  hash: string,
  maxAgeMs: number,
): AuditReport | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const report = JSON.parse(readFileSync(path, 'utf8')) as AuditReport;
    const same =
      report.suite?.configHash === hash &&
      JSON.stringify(report.suite.files) === JSON.stringify([...files].sort(byPath)) &&
      report.complete &&
      Date.now() - Date.parse(report.startedAt) <= maxAgeMs;
    return same ? report : undefined;
  } catch {
    return undefined;
  }
}

program
  .command('init')
  .description('inspect this repository and write a commented seedfork.config.ts')
  .option('--force', 'replace an existing seedfork config')
  .action(async (opts) => {
    try {
      const { initConfig } = await import('../init/write-config.js');
      const { path, found } = initConfig(process.cwd(), { force: opts.force });
      process.stdout.write(`wrote ${path}\n`);
      if (found.runner) process.stdout.write(`  runner: ${found.runner.name} (from ${found.runner.why})\n`);
      process.stdout.write(
        `  tests: ${found.include.join(', ') || '(none)'}: ${found.matched} files${found.includeWhy ? ` (from ${found.includeWhy})` : ''}\n`,
      );
      for (const s of found.services) {
        const detail =
          s.kind === 'postgres'
            ? `database ${s.database}${s.user ? `, user ${s.user}` : ''}, port ${s.port}`
            : `port ${s.port}`;
        const read = s.urlVar ? `, the code reads ${s.urlVar}` : '';
        process.stdout.write(`  service: ${s.name} (${s.kind}: ${detail}${read}; from ${s.from})\n`);
      }
      if (found.env)
        process.stdout.write(
          `  test env: ${Object.entries(found.env.vars)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')} (from ${found.env.why})\n`,
        );
      for (const s of found.steps) process.stdout.write(`  seed step: ${s.command} (${s.why})\n`);
      for (const u of found.unknown) process.stdout.write(`${pc.yellow('could not infer:')} ${u}\n`);
      process.stdout.write(`next: ${pc.bold('npx seedfork run')}\n`);
    } catch (error) {
      fail(error);
    }
  });

program
  .command('plan')
  .description('print how the suite splits into shards, with predicted shard times')
  .argument('[filters...]', 'only test files whose path contains one of these')
  .option('-c, --config <file>', 'config file')
  .option('-s, --shards <n>', 'number of shards (CI jobs)', positiveInt, 1)
  .addOption(shardByOption())
  .option('-w, --workers <n>', 'workers per shard (default: from the config)', positiveInt)
  .option('--timings <path>', 'timings file (default: .seedfork/timings.json)')
  .option(
    '--timings-from <junit>',
    'also read durations from an earlier JUnit XML report (repeatable)',
    collect,
  )
  .option('--files', "list each shard's files with their predicted cost")
  .option('--json', 'print the plan as JSON')
  .action(async (filters: string[], opts) => {
    const loaded = await loadConfig(process.cwd(), opts.config);
    const [{ loadSuite }, { makePlan }, { resolveWorkers }, { formatPlan }] = await Promise.all([
      import('../plan/suite.js'),
      import('../plan/plan.js'),
      import('../run/run.js'),
      import('./plan-text.js'),
    ]);
    const suite = loadSuite(loaded, {
      filter: filters,
      timings: opts.timings,
      timingsFrom: opts.timingsFrom,
    });
    const plan = makePlan(suite.costs, {
      shards: opts.shards,
      strategy: opts.shardBy,
      workers: opts.workers ?? resolveWorkers(loaded.config.workers),
    });
    if (opts.json) process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    else
      process.stdout.write(formatPlan(plan, { files: opts.files === true, timingsPath: suite.timingsPath }));
  });

program
  .command('merge')
  .description("combine the shards' JSON results into one JUnit XML, one JSON result and updated timings")
  .argument('<results...>', 'JSON result files, one per shard')
  .option('--junit <path>', 'merged JUnit XML', '.seedfork/junit.xml')
  .option('--json <path>', 'merged JSON result', '.seedfork/merged.json')
  .option('--timings <path>', "timings file to update with every shard's durations", '.seedfork/timings.json')
  .option('--slowest <n>', 'how many of the slowest files to list', positiveInt, 10)
  .option('-c, --config <file>', 'config file, for recording in the history (optional)')
  .action(async (paths: string[], opts) => {
    const [
      { readResultFile },
      { mergeResults },
      { assertSameSuite, readTimings, recordTimings },
      { writeFilesAtomic },
      { writeJUnit },
      { formatMerge },
    ] = await Promise.all([
      import('../report/result-file.js'),
      import('../plan/merge.js'),
      import('../plan/timings.js'),
      import('../report/write.js'),
      import('../report/junit-write.js'),
      import('./merge-text.js'),
    ]);
    const inputs = paths.map((path) => ({ path, result: readResultFile(path) }));
    const merged = mergeResults(inputs);
    const timingsPath = resolve(opts.timings);
    const base = readTimings(timingsPath);
    assertSameSuite(
      base,
      merged.files.map((f) => f.file),
      timingsPath,
    );
    const timings = recordTimings(base, merged.files, {
      sandboxed: merged.isolation !== 'none',
      ...(merged.seedMs !== undefined ? { seedMs: merged.seedMs } : {}),
    });
    // All three files or none: a failed write leaves the previous ones as they were.
    writeFilesAtomic([
      { path: resolve(opts.json), text: `${JSON.stringify(merged, null, 2)}\n` },
      { path: resolve(opts.junit), text: writeJUnit(merged) },
      { path: timingsPath, text: `${JSON.stringify(timings, null, 2)}\n` },
    ]);
    process.stdout.write(formatMerge(merged, { slowest: opts.slowest }));
    process.stdout.write(
      pc.dim(`JUnit XML: ${resolve(opts.junit)}\nJSON: ${resolve(opts.json)}\ntimings: ${timingsPath}\n`),
    );
    // the project's history, when there is a config that configures one
    const loaded = await loadConfig(process.cwd(), opts.config).catch(() => undefined);
    if (loaded) await recordInHistory(loaded, merged);
    process.exit(merged.files.some(failsTheBuild) ? 1 : 0);
  });

program
  .command('shell')
  .description('open a shell (or run a command) inside a kept sandbox')
  .argument('<id>', 'sandbox id, as printed by `run --keep-failed` or `list`')
  .argument('[command...]', 'command to run instead of an interactive shell')
  .option('-c, --config <file>', 'config file')
  .option('--state-dir <dir>', 'state directory (default: from the config)')
  // options go before the id; every argument after it is the command's, `-c` included
  .passThroughOptions()
  .action(async (id: string, given: string[], opts) => {
    // `shell <id> -- cmd …`, the usual way to end options, means the same as `shell <id> cmd …`
    const command = given[0] === '--' ? given.slice(1) : given;
    // the shell is confined like the tests were, with the config's sandbox.allowSyscalls
    const { loaded, stateDir } = await projectState(opts).catch(fail);
    const options = { confinement: { allowSyscalls: loaded?.config.sandbox.allowSyscalls ?? [] } };
    // the sandbox is in the state of one backend: the configured one's error is the one to show
    const preferred: BackendName = loaded?.config.isolation === 'microvm' ? 'microvm' : 'namespace';
    const { BACKEND_NAMES, backendFor } = await import('../sandbox/index.js');
    let attach: AttachCommand | undefined;
    let refusal: unknown;
    for (const name of [preferred, ...BACKEND_NAMES.filter((n) => n !== preferred)]) {
      try {
        attach = await backendFor(name, stateDir, options).attach(id, command);
        break;
      } catch (error) {
        refusal ??= error;
      }
    }
    if (!attach) fail(refusal);
    const r = spawnSync(attach.argv[0]!, attach.argv.slice(1), {
      stdio: 'inherit',
      env: { ...attach.env, TERM: process.env.TERM ?? 'xterm', PS1: `[sandbox ${id}] \\w# ` },
    });
    process.exit(r.status ?? 1);
  });

program
  .command('list')
  .description('list live sandboxes (kept ones and those of running seedfork processes)')
  .option('-c, --config <file>', 'config file')
  .option('--state-dir <dir>', 'state directory (default: from the config)')
  .action(async (opts) => {
    const stateDir = await stateDirOf(opts);
    const { BACKEND_NAMES, backendFor } = await import('../sandbox/index.js');
    const live = (await Promise.all(BACKEND_NAMES.map((name) => backendFor(name, stateDir).list()))).flat();
    if (live.length === 0) process.stdout.write('no live sandboxes\n');
    for (const m of live)
      process.stdout.write(
        `${m.id}  ${m.kept ? 'kept' : `run by pid ${m.ownerPid}`}  since ${m.createdAt}\n`,
      );
  });

program
  .command('gc')
  .description('remove every sandbox, cgroup and half-built snapshot that a crashed or kept run left')
  .option('-c, --config <file>', 'config file')
  .option('--state-dir <dir>', 'state directory (default: from the config)')
  .option('--keep-kept', 'leave sandboxes kept by --keep-failed alone')
  .option(
    '--caches',
    "also empty the tool caches seedfork keeps warm for this project (its runner's and config `cache`)",
  )
  .action(async (opts) => {
    // With a config: its snapshot budget, and its current snapshot kept whatever its size.
    const { loaded, stateDir } = await projectState(opts).catch(fail);
    const [{ BACKEND_NAMES, backendFor }, { gcOptions }] = await Promise.all([
      import('../sandbox/index.js'),
      import('../run/environment.js'),
    ]);
    const options = {
      includeKept: !opts.keepKept,
      ...(loaded ? gcOptions(loaded) : { snapshotBudgetBytes: parseSize(DEFAULT_SNAPSHOT_BUDGET) }),
    };
    const reports = await Promise.all(
      BACKEND_NAMES.map((name) => backendFor(name, stateDir).gc(options)),
    ).catch(fail);
    const report = {
      sandboxes: reports.flatMap((r) => r.sandboxes),
      cgroups: reports.flatMap((r) => r.cgroups),
      snapshotsInProgress: reports.flatMap((r) => r.snapshotsInProgress),
      snapshots: reports.flatMap((r) => r.snapshots),
    };
    process.stdout.write(
      `removed ${report.sandboxes.length} sandbox(es), ${report.cgroups.length} orphaned cgroup(s), ${report.snapshotsInProgress.length} half-built snapshot(s), ${report.snapshots.length} old snapshot(s)\n`,
    );
    if (opts.caches) {
      if (!loaded)
        fail(
          new SeedforkError('--caches needs the config (to know the runner and `cache`), not --state-dir'),
        );
      const [{ cacheDirsOf }, { adapterFor }] = await Promise.all([
        import('../run/caches.js'),
        import('../adapters/index.js'),
      ]);
      for (const dir of cacheDirsOf(loaded, adapterFor(loaded.config.test.runner))) {
        rmSync(dir, { recursive: true, force: true });
        process.stdout.write(`emptied cache ${dir}\n`);
      }
    }
  });

addHistoryCommands(program, fail);

// An exception thrown outside the promise chain (in an event listener or timer) is a bug: say
// so and exit 3, rather than Node's default exit 1, which reads as "a test failed".
process.on('uncaughtException', fail);
// A reader that went away (`seedfork init | head`) is not an error of seedfork's: stop quietly.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    fail(error);
  });
program.parseAsync(process.argv).catch(fail);
