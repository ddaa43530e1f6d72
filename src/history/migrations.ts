/**
 * The history's schema, in order. Applied once each by `openHistory` and recorded in
 * `history_migrations`; never edit one that has shipped, add the next.
 *
 * - `runs`: one CI job's report (service, build, attempt), with when it ran (`at`), the commit
 *   and branch, and the sha256 of what was ingested, which makes ingesting idempotent.
 * - `tests`: one test of one service, by file (or suite/classname) and full name.
 * - `results`: a test's outcome in a run; `retry_failures` counts the attempts that failed inside
 *   the run before its final status (Surefire's flakyFailure/rerunFailure, seedfork's retries).
 * - `test_days`: per test and UTC day, the runs and the "troubled" ones (failed, flaky, or with
 *   a failed retry), kept by ingest: only tests with trouble need their runs read.
 * - `audit_verdicts`: each audit's class for a test (`seedfork audit`: order-dependent,
 *   non-deterministic, brittle, shared-state, …), its reason and culprits (polluters or
 *   state-setters), by audit time.
 * - `tokens`: the server's bearer tokens, as sha256 hashes: `ingest` for one service, `admin` for
 *   every service and the quarantine list.
 * - `quarantine`: tests whose failures do not fail a build: a glob over `file > name` (or the
 *   name alone), for one service or all (`service` null), added by hand or automatically above
 *   the flake-rate threshold, until it expires or is released.
 * - `queue_builds`, `queue_jobs`, `queue_items`: queue mode's broker (src/server/queue/): one
 *   build's files with their predicted cost, each queued, leased to a job or done; each job with
 *   the time its leases run out (ms since the epoch), running, complete or lost, and the SHA-256
 *   of the secret it joined with.
 */
export const MIGRATIONS: { version: number; sql: string[] }[] = [
  {
    version: 1,
    sql: [
      `create table runs (
        id bigserial primary key,
        service text not null,
        build text not null,
        attempt int not null,
        commit_sha text,
        branch text,
        at timestamptz not null,
        depends_on text[] not null default '{}',
        content_hash text not null,
        sources text[] not null,
        ingested_at timestamptz not null default now(),
        unique (service, build, attempt)
      )`,
      'create index runs_at on runs (at)',
      `create table tests (
        id bigserial primary key,
        service text not null,
        file text not null,
        name text not null,
        unique (service, file, name)
      )`,
      `create table results (
        run_id bigint not null references runs (id) on delete cascade,
        test_id bigint not null references tests (id) on delete cascade,
        status text not null check (status in ('passed', 'failed', 'skipped', 'flaky')),
        duration_ms double precision not null,
        message text,
        retry_failures int not null default 0,
        primary key (run_id, test_id)
      )`,
      'create index results_test on results (test_id)',
    ],
  },
  {
    version: 2,
    sql: [
      `create table quarantine (
        id bigserial primary key,
        service text,
        pattern text not null,
        reason text not null,
        owner text,
        source text not null check (source in ('manual', 'auto')),
        created_at timestamptz not null default now(),
        expires_at timestamptz,
        released_at timestamptz
      )`,
      'create index quarantine_active on quarantine (released_at)',
    ],
  },
  {
    version: 3,
    sql: [
      // a rollup per test and day, kept by ingest, so that listing a window's tests reads
      // tests x days rather than every result
      `create table test_days (
        test_id bigint not null references tests (id) on delete cascade,
        day date not null,
        runs int not null,
        troubled int not null,
        primary key (test_id, day)
      )`,
      `insert into test_days (test_id, day, runs, troubled)
       select r.test_id, (u.at at time zone 'UTC')::date, count(*),
              count(*) filter (where r.status in ('failed', 'flaky') or r.retry_failures > 0)
       from results r join runs u on u.id = r.run_id where r.status <> 'skipped'
       group by 1, 2`,
    ],
  },
  {
    version: 4,
    sql: [
      `create table tokens (
        id bigserial primary key,
        hash text not null unique,
        service text,
        scope text not null check (scope in ('ingest', 'admin')),
        created_at timestamptz not null default now(),
        revoked_at timestamptz
      )`,
    ],
  },
  {
    version: 5,
    sql: [
      `create table audit_verdicts (
        test_id bigint not null references tests (id) on delete cascade,
        at timestamptz not null,
        category text not null,
        reason text not null,
        culprits text[] not null default '{}',
        primary key (test_id, at)
      )`,
    ],
  },
  {
    version: 6,
    sql: [
      `create table queue_builds (
        id bigserial primary key,
        service text not null,
        build text not null,
        suite_id text not null,
        created_at timestamptz not null default now(),
        unique (service, build)
      )`,
      `create table queue_jobs (
        build_id bigint not null references queue_builds (id) on delete cascade,
        job text not null,
        state text not null check (state in ('running', 'complete', 'lost')),
        lease_ms int not null,
        expires_at_ms bigint not null,
        primary key (build_id, job)
      )`,
      `create table queue_items (
        build_id bigint not null references queue_builds (id) on delete cascade,
        file text not null,
        cost_ms double precision not null,
        position int not null,
        state text not null check (state in ('queued', 'leased', 'done')),
        job text,
        handed int not null default 0,
        primary key (build_id, file)
      )`,
      'create index queue_items_next on queue_items (build_id, state, cost_ms desc, position)',
    ],
  },
  {
    version: 7,
    // a job's secret (SHA-256, hex): its calls must show the secret it joined with
    sql: ['alter table queue_jobs add column secret_sha256 text'],
  },
];
