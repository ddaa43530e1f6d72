import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { correlateHistory } from '../history/correlate-history.js';
import { parseDuration } from '../history/duration.js';
import { flakyTests, type TestVerdict } from '../history/flaky.js';
import { ingest } from '../history/ingest.js';
import { readReport } from '../history/read-report.js';
import { type HistoryStore, openHistory } from '../history/store.js';
import { forTerminal } from './terminal-text.js';

/** The project's config when there is one: `ingest` also serves suites seedfork does not run. */
async function optionalConfig(file?: string): Promise<LoadedConfig | undefined> {
  try {
    return await loadConfig(process.cwd(), file);
  } catch (error) {
    if (!file && error instanceof SeedforkError && error.message.startsWith('no seedfork config'))
      return undefined;
    throw error;
  }
}

/**
 * Where the history is: `--db`, else SEEDFORK_DB, else the config's `history.db` (a directory
 * relative to the project), else `<stateDir>/history` (`.seedfork/history` without a config).
 */
export async function openProjectHistory(opts: { db?: string; config?: string }): Promise<{
  store: HistoryStore;
  loaded?: LoadedConfig;
}> {
  const loaded = await optionalConfig(opts.config);
  const root = loaded?.root ?? process.cwd();
  const configured = loaded?.config.history.db;
  const target =
    opts.db ??
    process.env.SEEDFORK_DB ??
    (configured
      ? /^postgres(ql)?:\/\//.test(configured)
        ? configured
        : resolve(root, configured)
      : resolve(root, loaded?.config.stateDir ?? '.seedfork', 'history'));
  return { store: await openHistory(target), ...(loaded ? { loaded } : {}) };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
  return n;
}

function isoTime(value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('an ISO-8601 time, such as 2026-11-24T02:15:00Z');
  return ms;
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

function summary(v: TestVerdict): string {
  if (v.brokenSince) {
    return `broken since build ${v.brokenSince.build}${v.brokenSince.commit ? ` (${v.brokenSince.commit.slice(0, 10)})` : ''}, ${new Date(v.brokenSince.at).toISOString()}`;
  }
  if (v.fixedAt)
    return `fixed in build ${v.fixedAt.build}${v.fixedAt.commit ? ` (${v.fixedAt.commit.slice(0, 10)})` : ''}`;
  if (v.status === 'flaky')
    return `${v.flakyRuns} flaky of ${v.runs} runs, first ${new Date(v.firstFlakyAt!).toISOString()}`;
  return `${v.runs} runs`;
}

/** `seedfork ingest` and `seedfork flaky`. */
export function addHistoryCommands(program: Command, fail: (error: unknown) => never): void {
  program
    .command('ingest')
    .description(
      "record one CI job's test reports (JUnit XML from any runner, or seedfork's results JSON) in the flakiness history",
    )
    .argument('<files...>', 'report files')
    .requiredOption('--service <name>', 'the service (repository, component) the reports belong to')
    .requiredOption('--build <id>', "the CI build (pipeline) id: a job's reruns share it")
    .option('--attempt <n>', 'which attempt of the job this is (a rerun of the job is 2)', positiveInt, 1)
    .option('--commit <sha>', 'the commit tested')
    .option('--branch <name>', 'the branch tested')
    .option(
      '--at <time>',
      "when the run happened (ISO 8601; default: the reports' timestamp, else now)",
      isoTime,
    )
    .option('--depends-on <services>', 'services this one depends on, comma-separated')
    .option(
      '--db <url|dir>',
      'the history: a postgres:// URL or a directory (default: SEEDFORK_DB, config history.db)',
    )
    .option(
      '--replace',
      'replace a run of this service, build and attempt ingested before with other reports',
    )
    .option('--gate', 'exit 1 when a test failed in these reports (quarantine not counted yet)')
    .option('-c, --config <file>', 'config file')
    .action(async (files: string[], opts) => {
      const reports = files.map((file) => {
        try {
          return readReport(file);
        } catch (error) {
          return fail(error);
        }
      });
      const { store, loaded } = await openProjectHistory(opts).catch(fail);
      try {
        const dependsOn: string[] =
          opts.dependsOn !== undefined
            ? String(opts.dependsOn)
                .split(',')
                .map((s: string) => s.trim())
                .filter(Boolean)
            : (loaded?.config.history.services[opts.service]?.dependsOn ?? []);
        const outcome = await ingest(store, {
          service: opts.service,
          build: opts.build,
          attempt: opts.attempt,
          ...(opts.commit ? { commit: opts.commit } : {}),
          ...(opts.branch ? { branch: opts.branch } : {}),
          ...(opts.at !== undefined ? { at: opts.at } : {}),
          dependsOn,
          reports,
          replace: Boolean(opts.replace),
        });
        const what =
          outcome.stored === 'duplicate'
            ? 'already in the history (the same reports): nothing stored again'
            : `${outcome.stored === 'replaced' ? 'replaced' : 'stored'} ${outcome.tests} test result(s), ${outcome.failed.length} failed`;
        process.stdout.write(
          forTerminal(
            `${opts.service} build ${opts.build} attempt ${opts.attempt}: ${what} (${store.location})\n`,
          ),
        );
        if (opts.gate && outcome.failed.length > 0) {
          for (const f of outcome.failed.slice(0, 20))
            process.stdout.write(forTerminal(`  failed: ${f.file} > ${f.name}\n`));
          process.exitCode = 1;
        }
      } catch (error) {
        await store.close();
        fail(error);
      }
      await store.close();
    });

  program
    .command('flaky')
    .description('verdicts from the history: flaky, broken, fixed or healthy, per test, with flake rates')
    .option('--service <name>', "only this service's tests")
    .option('--since <duration>', 'only runs in this window (30d, 12h, 2w)', '30d')
    .option('--all', 'list healthy tests too')
    .option('--json', 'one JSON object per test, on stdout')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (opts) => {
      let since: number;
      try {
        since = Date.now() - parseDuration(opts.since);
      } catch (error) {
        return fail(error);
      }
      const { store, loaded } = await openProjectHistory(opts).catch(fail);
      let verdicts: TestVerdict[];
      try {
        verdicts = await flakyTests(store, {
          since,
          ...(opts.service ? { service: opts.service } : {}),
          regressionRuns: loaded?.config.history.regressionRuns ?? 2,
        });
      } catch (error) {
        await store.close();
        return fail(error);
      }
      await store.close();
      if (opts.json) {
        const iso = (ms?: number) => (ms === undefined ? undefined : new Date(ms).toISOString());
        const json = verdicts.map((v) => ({
          service: v.service,
          file: v.file,
          name: v.name,
          runs: v.runs,
          failures: v.failures,
          flakyRuns: v.flakyRuns,
          flakeRate: v.flakeRate,
          status: v.status,
          firstFlakyAt: iso(v.firstFlakyAt),
          lastFailureAt: iso(v.lastFailureAt),
          ...(v.brokenSince ? { brokenSince: { ...v.brokenSince, at: iso(v.brokenSince.at) } } : {}),
          ...(v.fixedAt ? { fixedAt: { ...v.fixedAt, at: iso(v.fixedAt.at) } } : {}),
        }));
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
        return;
      }
      const shown = opts.all ? verdicts : verdicts.filter((v) => v.status !== 'healthy');
      const counts = ['broken', 'flaky', 'fixed', 'healthy'].map(
        (s) => `${verdicts.filter((v) => v.status === s).length} ${s}`,
      );
      process.stdout.write(`${verdicts.length} test(s) in the last ${opts.since}: ${counts.join(', ')}\n`);
      const color = { broken: pc.red, flaky: pc.yellow, fixed: pc.green, healthy: pc.dim };
      for (const v of shown) {
        process.stdout.write(
          forTerminal(
            `  ${color[v.status](v.status.padEnd(7))} ${percent(v.flakeRate).padStart(6)}  ${v.service} ${pc.dim(v.file ? `${v.file} > ` : '')}${v.name}  ${pc.dim(summary(v))}\n`,
          ),
        );
      }
    });

  program
    .command('correlate')
    .description(
      'clusters of tests that fail together across services, with their shared dependency and time of day',
    )
    .option('--since <duration>', 'only runs in this window (30d, 12h, 2w)', '30d')
    .option('--window <duration>', 'failures this close count as together', '1h')
    .option(
      '--threshold <similarity>',
      'cut clusters at this Jaccard similarity (0-1; default: the best silhouette)',
    )
    .option('--min-failures <n>', 'leave out tests with fewer failures', positiveInt, 3)
    .option('--json', 'the clusters as JSON, on stdout')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (opts) => {
      let since: number;
      let windowMs: number;
      let threshold: number | undefined;
      try {
        since = Date.now() - parseDuration(opts.since);
        windowMs = parseDuration(opts.window);
        if (opts.threshold !== undefined) {
          threshold = Number(opts.threshold);
          if (!(threshold >= 0 && threshold <= 1))
            throw new SeedforkError(`--threshold must be between 0 and 1, not ${opts.threshold}`);
        }
      } catch (error) {
        return fail(error);
      }
      const { store, loaded } = await openProjectHistory(opts).catch(fail);
      let result: Awaited<ReturnType<typeof correlateHistory>>;
      try {
        const services = loaded?.config.history.services ?? {};
        result = await correlateHistory(store, {
          since,
          windowMs,
          minFailures: opts.minFailures,
          ...(threshold === undefined ? {} : { threshold }),
          regressionRuns: loaded?.config.history.regressionRuns ?? 2,
          dependsOn: Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.dependsOn])),
        });
      } catch (error) {
        await store.close();
        return fail(error);
      }
      await store.close();
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ threshold: result.threshold, clusters: result.clusters }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(
        `${result.clusters.length} cluster(s) among ${result.tests} failing test(s) in the last ${opts.since} (cut at Jaccard similarity ${result.threshold.toFixed(2)})\n`,
      );
      result.clusters.forEach((c, i) => {
        const dep = c.sharedDependency
          ? `, shared dependency ${c.sharedDependency.name} (${c.sharedDependency.services} of ${c.services.length} services)`
          : '';
        const when = c.window.timeOfDay ? `, failing mostly ${c.window.timeOfDay}` : '';
        process.stdout.write(
          forTerminal(
            `\n${pc.bold(`cluster ${i + 1}`)}: ${c.tests.length} tests in ${c.services.join(', ')}${dep}${when}; together in ${c.support} window(s), cohesion ${c.cohesion.toFixed(2)}\n`,
          ),
        );
        for (const t of c.tests)
          process.stdout.write(
            forTerminal(`  ${t.service} ${pc.dim(t.file ? `${t.file} > ` : '')}${t.name}\n`),
          );
      });
    });
}
