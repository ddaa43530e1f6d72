import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { globSync } from 'tinyglobby';
import { parse as parseYaml } from 'yaml';
import { IGNORE, safeRead } from './project-files.js';

/** A service seedfork can start, as `seedfork init` writes it into the config. */
export type FoundService =
  | {
      kind: 'postgres';
      name: string;
      port: number;
      database: string;
      /** The role the project connects as, when it is not `postgres`. */
      user?: string;
      /** The variable the project reads the database URL from, when it is not DATABASE_URL. */
      urlVar?: string;
      /** Where each part was inferred from, in words. */
      from: string;
    }
  | { kind: 'redis'; name: string; port: number; urlVar?: string; from: string };

/** One source's word on a service: what it says and where it said it. */
interface Hint {
  kind: 'postgres' | 'redis';
  /** The service's name in a compose file or CI workflow. */
  name?: string;
  port?: number;
  database?: string;
  user?: string;
  urlVar?: string;
  from: string;
}

const POSTGRES_IMAGE = /(^|\/)(postgres|postgis|pgvector|timescaledb)/;
const REDIS_IMAGE = /(^|\/)(redis|valkey)(:|$)/;

/** The key=value pairs of a compose/CI `environment`/`variables`/`env` block (list or map). */
function envBlock(env: unknown): Record<string, string> {
  if (Array.isArray(env))
    return Object.fromEntries(
      env.map(String).map((e) => {
        const at = e.indexOf('=');
        return at < 0 ? [e, ''] : [e.slice(0, at), e.slice(at + 1)];
      }),
    );
  if (env && typeof env === 'object')
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')]));
  return {};
}

/** A database URL's parts (`postgres://user:pass@host:port/db`, `redis://host:port`). */
function parseUrl(
  value: string,
): { kind: 'postgres' | 'redis'; port?: number; database?: string; user?: string } | undefined {
  const m =
    /^(postgres(?:ql)?|redis|rediss):\/\/(?:([^:@/]*)(?::[^@/]*)?@)?([^/:?]*)(?::(\d+))?(?:\/([^?#]*))?/.exec(
      value.trim().replace(/^['"]|['"]$/g, ''),
    );
  if (!m) return undefined;
  const kind = m[1]!.startsWith('redis') ? 'redis' : 'postgres';
  const user = m[2] ? decodeURIComponent(m[2]) : undefined;
  const database = m[5] ? decodeURIComponent(m[5]) : undefined;
  return {
    kind,
    ...(m[4] ? { port: Number(m[4]) } : {}),
    ...(kind === 'postgres' && database && !database.includes('$') ? { database } : {}),
    ...(kind === 'postgres' && user && !user.includes('$') ? { user } : {}),
  };
}

/** Hints from variables whose values are database URLs (`.env` files, CI `env:` blocks). */
function urlHints(vars: Record<string, string>, from: string): Hint[] {
  const hints: Hint[] = [];
  for (const [name, value] of Object.entries(vars)) {
    const url = parseUrl(value);
    if (url) hints.push({ ...url, urlVar: name, from: `${from} (${name})` });
  }
  return hints;
}

/** A hint from a container service: image, ports and environment (compose, GitHub Actions, GitLab). */
function containerHint(
  name: string,
  image: string,
  ports: unknown,
  environment: unknown,
  from: string,
): Hint | undefined {
  const env = envBlock(environment);
  const hostPort = (inside: number) => {
    for (const p of Array.isArray(ports) ? ports : []) {
      const m = /^(?:[\d.]+:)?(\d+):(\d+)/.exec(String(p));
      if (m && Number(m[2]) === inside) return Number(m[1]);
    }
    return undefined;
  };
  if (POSTGRES_IMAGE.test(image)) {
    const port = hostPort(5432);
    return {
      kind: 'postgres',
      name,
      ...(port ? { port } : {}),
      ...(env.POSTGRES_DB ? { database: env.POSTGRES_DB } : {}),
      ...(env.POSTGRES_USER ? { user: env.POSTGRES_USER } : {}),
      from: `${from} (${image})`,
    };
  }
  if (REDIS_IMAGE.test(image)) {
    const port = hostPort(6379);
    return { kind: 'redis', name, ...(port ? { port } : {}), from: `${from} (${image})` };
  }
  return undefined;
}

/** A YAML file's document, or a note in `unknown` when it does not parse. */
function readYaml(root: string, file: string, unknown: string[]): unknown {
  try {
    return parseYaml(readFileSync(join(root, file), 'utf8'));
  } catch (error) {
    unknown.push(
      `${file} is not valid YAML (${(error as Error).message.split('\n')[0]}); its services were not read`,
    );
    return undefined;
  }
}

/** docker-compose files: `services.<name>.image`, `ports`, `environment`. */
function composeHints(root: string, unknown: string[]): Hint[] {
  const hints: Hint[] = [];
  for (const file of [
    'docker-compose.yml',
    'docker-compose.yaml',
    'compose.yml',
    'compose.yaml',
    'docker-compose.test.yml',
    'docker-compose.test.yaml',
  ].filter((f) => existsSync(join(root, f)))) {
    const doc = readYaml(root, file, unknown) as
      | { services?: Record<string, Record<string, unknown>> }
      | undefined;
    for (const [name, svc] of Object.entries(doc?.services ?? {})) {
      const image = String(svc?.image ?? '');
      const hint = containerHint(name, image, svc?.ports, svc?.environment, file);
      if (hint) hints.push(hint);
      else if (image)
        unknown.push(`service "${name}" (${image}) in ${file}: add it by hand as { command, ready }`);
    }
  }
  return hints;
}

/** GitHub Actions workflows: `jobs.<id>.services.<name>` and `env` blocks (workflow, job, step). */
function githubHints(root: string, unknown: string[]): Hint[] {
  const dir = join(root, '.github/workflows');
  if (!existsSync(dir)) return [];
  const hints: Hint[] = [];
  for (const entry of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const file = `.github/workflows/${entry}`;
    const doc = readYaml(root, file, unknown) as
      | {
          env?: unknown;
          jobs?: Record<string, { env?: unknown; services?: Record<string, unknown>; steps?: unknown[] }>;
        }
      | undefined;
    hints.push(...urlHints(envBlock(doc?.env), file));
    for (const job of Object.values(doc?.jobs ?? {})) {
      for (const [name, svc] of Object.entries(job?.services ?? {})) {
        const s = (typeof svc === 'string' ? { image: svc } : svc) as Record<string, unknown>;
        const hint = containerHint(name, String(s?.image ?? ''), s?.ports, s?.env, file);
        if (hint) hints.push(hint);
      }
      hints.push(...urlHints(envBlock(job?.env), file));
      for (const step of job?.steps ?? [])
        hints.push(...urlHints(envBlock((step as { env?: unknown })?.env), file));
    }
  }
  return hints;
}

/** GitLab CI: `services:` (top level or per job; `image:tag` or `{ name, alias }`) and `variables`. */
function gitlabHints(root: string, unknown: string[]): Hint[] {
  const file = '.gitlab-ci.yml';
  if (!existsSync(join(root, file))) return [];
  const doc = readYaml(root, file, unknown) as Record<string, unknown> | undefined;
  if (!doc || typeof doc !== 'object') return [];
  const hints: Hint[] = [];
  const blocks = [
    doc,
    ...Object.values(doc).filter((v): v is Record<string, unknown> => !!v && typeof v === 'object'),
  ];
  const global = envBlock(doc.variables);
  for (const block of blocks) {
    // a job's variables on top of the pipeline's, as GitLab applies them
    const variables = block === doc ? global : { ...global, ...envBlock(block.variables) };
    hints.push(...urlHints(envBlock(block.variables), file));
    for (const svc of Array.isArray(block.services) ? block.services : []) {
      const image = typeof svc === 'string' ? svc : String((svc as { name?: unknown })?.name ?? '');
      const alias = typeof svc === 'object' ? (svc as { alias?: string })?.alias : undefined;
      const name = alias ?? /(?:^|\/)([a-z0-9-]+)(?::|$)/.exec(image)?.[1] ?? 'service';
      const hint = containerHint(name, image, [], variables, file);
      if (hint) hints.push(hint);
    }
  }
  return hints;
}

/** `.env` files: every variable whose value is a postgres or redis URL. */
function dotenvHints(root: string): Hint[] {
  const hints: Hint[] = [];
  for (const file of [
    '.env.test',
    '.env.test.local',
    '.env',
    '.env.local',
    '.env.example',
    '.env.sample',
    '.env.development',
  ]) {
    const text = safeRead(join(root, file));
    const vars: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
      if (m) vars[m[1]!] = m[2]!;
    }
    hints.push(...urlHints(vars, file));
  }
  return hints;
}

/** ORM and query-builder configs that say which database the project uses. */
function ormHints(root: string): Hint[] {
  const hints: Hint[] = [];
  const one = (patterns: string[]) => globSync(patterns, { cwd: root, ignore: IGNORE, dot: true }).sort()[0];
  const envVar = (text: string) =>
    /(?:process\.env\.|process\.env\[['"]|env\(['"]|Bun\.env\.)([A-Z][A-Z0-9_]*)/.exec(text)?.[1];
  const add = (file: string | undefined, postgres: RegExp, what: string) => {
    if (!file) return;
    const text = safeRead(join(root, file));
    if (!postgres.test(text)) return;
    const urlVar = envVar(text);
    hints.push({ kind: 'postgres', ...(urlVar ? { urlVar } : {}), from: `${file} (${what})` });
  };
  add(
    one(['prisma/schema.prisma', 'schema.prisma', 'prisma/schema/*.prisma']),
    /provider\s*=\s*"postgres(ql)?"/,
    'Prisma',
  );
  add(one(['knexfile.{js,cjs,mjs,ts}']), /client\s*:\s*['"](pg|postgres|postgresql)['"]/, 'knex');
  add(
    one(['drizzle.config.{js,cjs,mjs,ts,mts}']),
    /dialect\s*:\s*['"]postgresql['"]|driver\s*:\s*['"]pg['"]/,
    'Drizzle',
  );
  add(
    one(['ormconfig.{js,ts,json,yml,yaml}', '{src/,}data-source.{js,ts}', 'src/**/data-source.{js,ts}']),
    /type\s*:\s*['"]postgres['"]|"type"\s*:\s*"postgres"/,
    'TypeORM',
  );
  add(
    one(['.sequelizerc', 'config/config.json', 'config/database.{js,json}']),
    /dialect['"]?\s*:\s*['"]postgres['"]/,
    'Sequelize',
  );
  add(
    one(['mikro-orm.config.{js,ts}', 'src/mikro-orm.config.{js,ts}']),
    /postgresql|PostgreSqlDriver/,
    'MikroORM',
  );
  return hints;
}

/** Drivers in package.json that say which services the code talks to. */
function dependencyHints(pkg: Record<string, unknown> | undefined, unknown: string[]): Hint[] {
  const deps = { ...(pkg?.dependencies as object), ...(pkg?.devDependencies as object) } as Record<
    string,
    string
  >;
  const hints: Hint[] = [];
  const postgres = [
    'pg',
    'postgres',
    '@neondatabase/serverless',
    'pg-promise',
    'slonik',
    '@vercel/postgres',
  ].filter((d) => deps[d]);
  if (postgres.length > 0) hints.push({ kind: 'postgres', from: `the ${postgres.join(', ')} dependency` });
  const redis = ['ioredis', 'redis', '@redis/client'].filter((d) => deps[d]);
  if (redis.length > 0) hints.push({ kind: 'redis', from: `the ${redis.join(', ')} dependency` });
  const mysql = ['mysql2', 'mysql', 'mariadb'].filter((d) => deps[d]);
  if (mysql.length > 0)
    unknown.push(
      `the ${mysql.join(', ')} dependency: MySQL/MariaDB services are not supported yet; declare one by hand as { command, ready } (mysqld with its data directory) or keep it outside seedfork`,
    );
  return hints;
}

/** The variable a service's URL goes by when nothing renames it (what seedfork exports). */
export const CONVENTIONAL_URL_VAR = { postgres: 'DATABASE_URL', redis: 'REDIS_URL' } as const;

/** Names a variable holding each kind of service's URL can have. */
const URL_VAR_NAMES = {
  postgres: '(?:[A-Z][A-Z0-9_]*_)?(?:DATABASE|POSTGRES|PG|DB)_?URL',
  redis: '(?:[A-Z][A-Z0-9_]*_)?REDIS_URL',
} as const;

/**
 * Which variables the code reads each kind of service's URL from (`process.env.X`,
 * `os.environ['X']`, `os.Getenv("X")`, Prisma's `env("X")`), counted over the project's files in
 * one pass; test and source files count double those under scripts/, bench/ and perf/, which a
 * suite does not run.
 */
export function urlVarsRead(root: string): Record<'postgres' | 'redis', Map<string, number>> {
  const reader = (name: string) =>
    new RegExp(
      `(?:process\\.env\\.|process\\.env\\[['"]|environ(?:\\.get\\(|\\[)['"]|getenv\\(['"]|Getenv\\("|env\\(")(${name})\\b`,
      'g',
    );
  const kinds = (['postgres', 'redis'] as const).map((kind) => ({
    kind,
    read: reader(URL_VAR_NAMES[kind]),
    counts: new Map<string, number>(),
  }));
  const files = globSync(['**/*.{js,mjs,cjs,ts,mts,cts,py,go,prisma}'], { cwd: root, ignore: IGNORE }).slice(
    0,
    5000,
  );
  for (const file of files) {
    const weight = /(^|\/)(scripts?|bench|benchmarks?|perf|tools)\//.test(file) ? 1 : 2;
    const text = safeRead(join(root, file));
    for (const { read, counts } of kinds)
      for (const m of text.matchAll(read)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + weight);
  }
  return { postgres: kinds[0]!.counts, redis: kinds[1]!.counts };
}

/** The variable most read, preferring the conventional name when the code reads it at all. */
function chosenVar(counts: Map<string, number>, conventional: string): string | undefined {
  if (counts.size === 0 || counts.has(conventional)) return undefined;
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
}

/**
 * The services a project's tests need, from everything that declares them, most specific first:
 * compose files, CI workflows (GitHub Actions `services:` and `env:`, GitLab `services:` and
 * `variables:`), `.env` files (`DATABASE_URL=postgres://…/name`), ORM configs (Prisma, knex,
 * Drizzle, TypeORM, Sequelize, MikroORM) and driver dependencies (pg, postgres,
 * @neondatabase/serverless → postgres; ioredis, redis → redis; mysql2 → not supported, said in
 * `unknown`). One service per kind: the first source that names a value (port, database, user,
 * variable) gives it; `from` lists every source. The variable is the one the code reads.
 */
export function findServices(
  root: string,
  pkg: Record<string, unknown> | undefined,
  unknown: string[],
): FoundService[] {
  const hints = [
    ...composeHints(root, unknown),
    ...githubHints(root, unknown),
    ...gitlabHints(root, unknown),
    ...dotenvHints(root),
    ...ormHints(root),
    ...dependencyHints(pkg, unknown),
  ];
  const services: FoundService[] = [];
  const readByKind = hints.length > 0 ? urlVarsRead(root) : undefined;
  for (const kind of ['postgres', 'redis'] as const) {
    const mine = hints.filter((h) => h.kind === kind);
    if (mine.length === 0 || !readByKind) continue;
    const first = <K extends keyof Hint>(key: K) => mine.find((h) => h[key] !== undefined)?.[key];
    const from = [...new Set(mine.map((h) => h.from))].join(', ');
    const read = readByKind[kind];
    const conventional = CONVENTIONAL_URL_VAR[kind];
    // what the code reads wins over what a config file names
    const urlVar = chosenVar(read, conventional) ?? (read.size === 0 ? first('urlVar') : undefined);
    const name = first('name') ?? kind;
    if (kind === 'postgres') {
      const user = first('user');
      services.push({
        kind,
        name,
        port: first('port') ?? 5432,
        database: first('database') ?? 'app',
        ...(user && user !== 'postgres' ? { user } : {}),
        ...(urlVar && urlVar !== conventional ? { urlVar } : {}),
        from,
      });
    } else {
      services.push({
        kind,
        name,
        port: first('port') ?? 6379,
        ...(urlVar && urlVar !== conventional ? { urlVar } : {}),
        from,
      });
    }
  }
  return services;
}
