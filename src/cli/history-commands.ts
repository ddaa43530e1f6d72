import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import type { AuditReport } from '../audit/types.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { SeedforkError } from '../errors/seedfork-error.js';
import { recordAudit } from '../history/audit-verdicts.js';
import { correlateHistory } from '../history/correlate-history.js';
import { parseDuration } from '../history/duration.js';
import { flakyTests, type TestVerdict } from '../history/flaky.js';
import { ingest } from '../history/ingest.js';
import {
  activeQuarantine,
  addQuarantine,
  applyAutoQuarantine,
  quarantineMatcher,
  removeQuarantine,
} from '../history/quarantine.js';
import { type Report, readReport, reportFromRunResult } from '../history/read-report.js';
import { pruneHistory } from '../history/retention.js';
import { type HistoryStore, openHistory } from '../history/store.js';
import { createToken, revokeToken } from '../history/tokens.js';
import { uploadRun } from '../history/upload.js';
import { LEASE_LIMITS_MS } from '../plan/queue-protocol.js';
import type { RunResult } from '../report/types.js';
import type { QueueOptions } from '../run/queue-client.js';
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

/** What each service depends on, from config `history.services` (none without a config). */
function configDependsOn(loaded: LoadedConfig | undefined): Record<string, string[]> {
  const services = loaded?.config.history.services ?? {};
  return Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.dependsOn]));
}

/** This project's service name in the history: `history.service`, else its directory's name. */
function projectService(loaded: LoadedConfig): string {
  return loaded.config.history.service ?? basename(loaded.root);
}

/**
 * For `seedfork run --queue URL`: the queue options, with the service from `--service` or the
 * config (`history.service`, else the project directory's name), the token from SEEDFORK_TOKEN
 * (a flag would show in `ps`), and a job id unique to this process unless `--queue-job` names one.
 * @throws SeedforkError when SEEDFORK_TOKEN is not set or the lease is not a duration
 */
export function queueOptionsFor(
  loaded: LoadedConfig,
  opts: { queue: string; service?: string; queueJob?: string; queueLease?: string },
): QueueOptions {
  const token = process.env.SEEDFORK_TOKEN;
  if (!token)
    throw new SeedforkError('--queue needs a token in SEEDFORK_TOKEN', {
      hint: 'Make one with `seedfork token create --service <service>` on the server, and give it to every job as a secret.',
    });
  const leaseMs = parseDuration(opts.queueLease ?? '30s');
  if (leaseMs < LEASE_LIMITS_MS.min || leaseMs > LEASE_LIMITS_MS.max)
    throw new SeedforkError(`--queue-lease must be from 1s to 60m, not ${opts.queueLease}`);
  return {
    url: opts.queue,
    token,
    service: opts.service ?? projectService(loaded),
    job: opts.queueJob ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    leaseMs,
  };
}

/**
 * For `seedfork run`: why a test of this project is quarantined, from the history's quarantine
 * list, when there is a history (configured, SEEDFORK_DB, or the embedded one exists); else
 * undefined.
 */
export async function runQuarantine(
  loaded: LoadedConfig,
): Promise<((file: string, test: string) => string | undefined) | undefined> {
  const embedded = resolve(loaded.root, loaded.config.stateDir, 'history');
  if (!process.env.SEEDFORK_DB && !loaded.config.history.db && !existsSync(embedded)) return undefined;
  const { store } = await openProjectHistory({ config: loaded.file });
  const entries = await activeQuarantine(store).finally(() => store.close());
  const match = quarantineMatcher(entries);
  const service = projectService(loaded);
  return (file, test) => match(service, file, test)?.reason;
}

/**
 * Store something of this project's in its history when the project configures one
 * (`history.service` or `history.db`, or SEEDFORK_DB): `store` does it and returns the line to
 * print. Never throws: a history that cannot be reached is a warning naming `what`, not a
 * failed command.
 */
async function recordForProject(
  loaded: LoadedConfig,
  what: string,
  store: (history: HistoryStore, service: string) => Promise<string>,
): Promise<void> {
  const { history } = loaded.config;
  if (!process.env.SEEDFORK_DB && !history.db && !history.service) return;
  try {
    const opened = await openProjectHistory({ config: loaded.file });
    try {
      const line = await store(opened.store, projectService(loaded));
      process.stderr.write(pc.dim(`${line} (${opened.store.location})\n`));
    } finally {
      await opened.store.close();
    }
  } catch (error) {
    process.stderr.write(
      pc.yellow(
        `seedfork: warning: the ${what} was not recorded in the history: ${(error as Error).message}\n`,
      ),
    );
  }
}

/**
 * After `seedfork run` (not one shard: merge records the whole) or `merge`: store the result in
 * the project's history, when it has one (see `recordForProject`). The job is the CI run
 * (`runId`, else a local id), its attempt GITHUB_RUN_ATTEMPT or CI_JOB_ATTEMPT's, its commit and
 * branch the CI's or git's.
 */
export async function recordInHistory(loaded: LoadedConfig, result: RunResult): Promise<void> {
  await recordForProject(loaded, 'run', async (store, service) => {
    const env = process.env;
    const commit =
      env.GITHUB_SHA ?? env.CI_COMMIT_SHA ?? env.BUILDKITE_COMMIT ?? git(loaded.root, ['rev-parse', 'HEAD']);
    const branch =
      env.GITHUB_REF_NAME ??
      env.CI_COMMIT_BRANCH ??
      env.BUILDKITE_BRANCH ??
      git(loaded.root, ['rev-parse', '--abbrev-ref', 'HEAD']);
    const outcome = await ingest(store, {
      service,
      build: result.runId ?? `local-${result.startedAt}`,
      attempt: Number(env.GITHUB_RUN_ATTEMPT ?? env.CI_JOB_ATTEMPT ?? 1) || 1,
      ...(commit ? { commit } : {}),
      ...(branch && branch !== 'HEAD' ? { branch } : {}),
      dependsOn: loaded.config.history.services[service]?.dependsOn ?? [],
      reports: [reportFromRunResult(result)],
      replace: true,
    });
    return `recorded in the history: ${outcome.tests} test result(s) of ${service}`;
  });
}

/** After `seedfork audit`: store each test's class with the test in the project's history. */
export async function recordAuditInHistory(loaded: LoadedConfig, report: AuditReport): Promise<void> {
  await recordForProject(loaded, 'audit', async (store, service) => {
    const n = await recordAudit(store, service, report);
    return `recorded ${n} audit verdict(s) of ${service} in the history`;
  });
}

function git(cwd: string, args: string[]): string | undefined {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

/** `seedfork ingest --server`: upload one job's reports, then gate on the answer. */
async function ingestToServer(
  files: string[],
  reports: Report[],
  opts: Record<string, unknown>,
  fail: (error: unknown) => never,
): Promise<void> {
  const token = process.env.SEEDFORK_TOKEN ?? (opts.token as string | undefined);
  if (!token)
    fail(
      new SeedforkError(
        '--server needs a token: set SEEDFORK_TOKEN (from seedfork token create --service S)',
      ),
    );
  const dependsOn =
    opts.dependsOn === undefined
      ? []
      : String(opts.dependsOn)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const outcome = await uploadRun(String(opts.server), token, {
    service: String(opts.service),
    build: String(opts.build),
    attempt: Number(opts.attempt),
    ...(opts.commit ? { commit: String(opts.commit) } : {}),
    ...(opts.branch ? { branch: String(opts.branch) } : {}),
    ...(opts.at !== undefined ? { at: Number(opts.at) } : {}),
    dependsOn,
    replace: Boolean(opts.replace),
    reports: files.map((path, i) => ({ path, content: reports[i]!.content })),
  }).catch(fail);
  const what =
    outcome.stored === 'duplicate'
      ? 'already in the history (the same reports): nothing stored again'
      : `${outcome.stored === 'replaced' ? 'replaced' : 'stored'} ${outcome.tests} test result(s), ${outcome.failed.length} failed`;
  process.stdout.write(
    forTerminal(`${opts.service} build ${opts.build} attempt ${opts.attempt}: ${what} (${opts.server})\n`),
  );
  if (opts.gate && outcome.failed.length > 0) {
    for (const f of outcome.failed) {
      process.stdout.write(
        forTerminal(
          `  ${f.quarantined ? `quarantined (${f.quarantined})` : 'failed'}: ${f.file ? `${f.file} > ` : ''}${f.name}\n`,
        ),
      );
    }
    if (outcome.failed.some((f) => !f.quarantined)) process.exitCode = 1;
    else process.stdout.write('every failure is quarantined: the gate passes\n');
  }
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
    .option('--gate', 'exit 1 when a test failed in these reports and is not quarantined')
    .option('--server <url>', 'send the reports to a history server (seedfork serve) instead of a database')
    .option(
      '--token <token>',
      'the server token (better: the SEEDFORK_TOKEN environment variable, which ps does not show)',
    )
    .option('-c, --config <file>', 'config file')
    .action(async (files: string[], opts) => {
      const reports = files.map((file) => {
        try {
          return readReport(file);
        } catch (error) {
          return fail(error);
        }
      });
      if (opts.server) return ingestToServer(files, reports, opts, fail);
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
        if (outcome.stored !== 'duplicate') {
          const auto = loaded?.config.history.quarantine ?? { threshold: 0.1, minRuns: 10, releaseAfter: 10 };
          const verdicts = await flakyTests(store, {
            service: opts.service,
            since: Date.now() - parseDuration('30d'),
            regressionRuns: loaded?.config.history.regressionRuns ?? 2,
          });
          const changed = await applyAutoQuarantine(store, verdicts, auto);
          for (const t of changed.added)
            process.stdout.write(forTerminal(`quarantined automatically: ${t}\n`));
          for (const t of changed.released)
            process.stdout.write(forTerminal(`released from quarantine: ${t}\n`));
        }
        if (opts.gate && outcome.failed.length > 0) {
          const quarantined = quarantineMatcher(await activeQuarantine(store));
          const blocking = outcome.failed.filter((f) => !quarantined(opts.service, f.file, f.name));
          for (const f of outcome.failed) {
            const entry = quarantined(opts.service, f.file, f.name);
            process.stdout.write(
              forTerminal(
                `  ${entry ? `quarantined (${entry.reason})` : 'failed'}: ${f.file ? `${f.file} > ` : ''}${f.name}\n`,
              ),
            );
          }
          if (blocking.length > 0) process.exitCode = 1;
          else process.stdout.write('every failure is quarantined: the gate passes\n');
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
          ...(v.audit ? { audit: v.audit } : {}),
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
        result = await correlateHistory(store, {
          since,
          windowMs,
          minFailures: opts.minFailures,
          ...(threshold === undefined ? {} : { threshold }),
          regressionRuns: loaded?.config.history.regressionRuns ?? 2,
          dependsOn: configDependsOn(loaded),
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

  const quarantine = program
    .command('quarantine')
    .description('tests whose failures do not fail the build: they still run, and say so');
  quarantine
    .command('add')
    .description('quarantine the tests a name or glob matches (over "file > name", or the name alone)')
    .argument('<test>', 'a test name or glob')
    .requiredOption('--reason <text>', 'why: the flaky behaviour, a ticket')
    .option('--owner <name>', 'who fixes it')
    .option('--expires <duration>', 'lift it after this long (14d, 2w)')
    .option('--service <name>', "only this service's tests (default: every service)")
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (pattern: string, opts) => {
      let expiresAt: number | undefined;
      try {
        if (opts.expires) expiresAt = Date.now() + parseDuration(opts.expires);
      } catch (error) {
        return fail(error);
      }
      const { store } = await openProjectHistory(opts).catch(fail);
      try {
        const entry = await addQuarantine(store, {
          pattern,
          reason: opts.reason,
          ...(opts.service ? { service: opts.service } : {}),
          ...(opts.owner ? { owner: opts.owner } : {}),
          ...(expiresAt === undefined ? {} : { expiresAt }),
        });
        process.stdout.write(
          forTerminal(
            `quarantined #${entry.id}: ${entry.pattern}${entry.expiresAt ? ` until ${new Date(entry.expiresAt).toISOString()}` : ''}\n`,
          ),
        );
      } catch (error) {
        await store.close();
        return fail(error);
      }
      await store.close();
    });
  quarantine
    .command('list')
    .description('the quarantine entries in force')
    .option('--json', 'as JSON, on stdout')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (opts) => {
      const { store } = await openProjectHistory(opts).catch(fail);
      const entries = await activeQuarantine(store).finally(() => store.close());
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${entries.length} quarantined\n`);
      for (const e of entries) {
        const expiry = e.expiresAt ? `, until ${new Date(e.expiresAt).toISOString().slice(0, 10)}` : '';
        process.stdout.write(
          forTerminal(
            `  #${e.id} ${e.service ?? '(every service)'}: ${e.pattern}  ${pc.dim(`${e.reason}${e.owner ? `, owner ${e.owner}` : ''}${expiry}, ${e.source}`)}\n`,
          ),
        );
      }
    });
  quarantine
    .command('remove')
    .description('release a quarantine entry: by its #id, or every one with this pattern')
    .argument('<id|test>', 'the entry number from `list`, or its pattern')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (target: string, opts) => {
      const { store } = await openProjectHistory(opts).catch(fail);
      const n = await removeQuarantine(store, target.replace(/^#/, '')).finally(() => store.close());
      if (n === 0)
        fail(new SeedforkError(`no quarantine entry in force is ${target}; see seedfork quarantine list`));
      process.stdout.write(`released ${n} quarantine entr${n === 1 ? 'y' : 'ies'}\n`);
    });

  program
    .command('serve')
    .description(
      'the history server: an ingest API for CI jobs (bearer tokens per service), the verdicts and a dashboard',
    )
    .option('--port <n>', 'port', (v) => Number(v), 7357)
    .option('--host <address>', 'address to listen on (0.0.0.0 for other machines)', '127.0.0.1')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (opts) => {
      const { store, loaded } = await openProjectHistory(opts).catch(fail);
      const { serveHistory } = await import('../server/serve.js');
      const server = await serveHistory(store, {
        port: opts.port,
        host: opts.host,
        regressionRuns: loaded?.config.history.regressionRuns ?? 2,
        dependsOn: configDependsOn(loaded),
      }).catch(async (error) => {
        await store.close();
        return fail(error);
      });
      process.stdout.write(`serving the history (${store.location}) on ${server.url}; Ctrl-C stops\n`);
      const stop = async () => {
        await server.close();
        await store.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const token = program.command('token').description("the history server's bearer tokens (stored hashed)");
  token
    .command('create')
    .description('make a token; it is printed once')
    .option('--service <name>', 'an ingest token for this one service')
    .option('--admin', 'an admin token: every service, and the quarantine list')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (opts) => {
      if (!opts.admin && !opts.service)
        fail(new SeedforkError('token create needs --service S (or --admin)'));
      const { store } = await openProjectHistory(opts).catch(fail);
      const made = await createToken(
        store,
        opts.admin ? { scope: 'admin' } : { scope: 'ingest', service: opts.service },
      )
        .catch(fail)
        .finally(() => store.close());
      process.stdout.write(`${made.token}\n`);
      process.stderr.write(
        `token #${made.id} (${opts.admin ? 'admin' : `ingest for ${opts.service}`}); it is not shown again: put it in a CI secret, as SEEDFORK_TOKEN\n`,
      );
    });
  token
    .command('revoke')
    .description('revoke a token by its #id')
    .argument('<id>', 'the number token create printed')
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (id: string, opts) => {
      const { store } = await openProjectHistory(opts).catch(fail);
      const done = await revokeToken(store, Number(id.replace(/^#/, ''))).finally(() => store.close());
      if (!done) fail(new SeedforkError(`no token #${id} in force`));
      process.stdout.write(`revoked token #${id}\n`);
    });

  program
    .command('prune')
    .description('retention: drop history runs older than a number of days (whole UTC days)')
    .requiredOption(
      '--older-than <days>',
      'drop runs before the start of the day this many days ago',
      positiveInt,
    )
    .option('--db <url|dir>', 'the history (default: SEEDFORK_DB, config history.db)')
    .option('-c, --config <file>', 'config file')
    .action(async (opts) => {
      const { store } = await openProjectHistory(opts).catch(fail);
      const dropped = await pruneHistory(store, opts.olderThan)
        .catch(fail)
        .finally(() => store.close());
      process.stdout.write(
        `dropped ${dropped.runs} run(s), ${dropped.results} result(s) older than ${opts.olderThan} days\n`,
      );
    });
}
