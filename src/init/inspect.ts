import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { globSync } from 'tinyglobby';
import { parse as parseYaml } from 'yaml';
import type { RunnerName } from '../adapters/index.js';

/** A service seedfork can start, as found in a docker-compose file. */
export type FoundService =
  | { kind: 'postgres'; name: string; port: number; database: string; from: string }
  | { kind: 'redis'; name: string; port: number; from: string };

/** What {@link inspectProject} found, each item with where it came from (for the config's comments). */
export interface Inspection {
  runner?: { name: RunnerName; why: string };
  include: string[];
  /** How many files `include` matches today. */
  matched: number;
  inputs: string[];
  steps: { command: string; why: string }[];
  services: FoundService[];
  /** The environment variable the code reads the database URL from, when it is not DATABASE_URL. */
  databaseUrlVar?: string;
  /** What could not be inferred, in words, for the user. */
  unknown: string[];
}

const IGNORE = [
  '**/node_modules/**',
  '**/.git/**',
  '**/vendor/**',
  '**/.venv/**',
  '**/venv/**',
  '**/dist/**',
];
const JS = '{js,jsx,ts,tsx,mjs,cjs,mts,cts}';

/** Default test globs of each runner (from their docs: Jest `testMatch`, Vitest `include`, …). */
const DEFAULT_INCLUDE: Record<RunnerName, string[]> = {
  jest: [`**/__tests__/**/*.${JS}`, `**/*.{test,spec}.${JS}`],
  vitest: [`**/*.{test,spec}.${JS}`],
  mocha: [`test/**/*.${JS}`],
  playwright: [`**/*.{test,spec}.${JS}`],
  // node --test's own defaults (https://nodejs.org/api/test.html#running-tests-from-the-command-line)
  node: [
    '**/*.test.{js,mjs,cjs}',
    '**/*{-,_}test.{js,mjs,cjs}',
    '**/test-*.{js,mjs,cjs}',
    '**/test/**/*.{js,mjs,cjs}',
  ],
  pytest: ['**/test_*.py', '**/*_test.py'],
  go: ['**/*_test.go'],
};

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const has = (root: string, names: string[]) => names.find((n) => existsSync(join(root, n)));
const configFile = (root: string, base: string) =>
  has(
    root,
    ['js', 'mjs', 'cjs', 'ts', 'mts', 'cts', 'json'].map((e) => `${base}.${e}`),
  );

/** Which runner the project uses, from its configs, dependencies and test script. */
function findRunner(root: string, pkg: Record<string, unknown> | undefined): Inspection['runner'] {
  const deps = { ...(pkg?.dependencies as object), ...(pkg?.devDependencies as object) } as Record<
    string,
    string
  >;
  const testScript = String((pkg?.scripts as Record<string, string> | undefined)?.test ?? '');
  const candidates: [RunnerName, string | undefined][] = [
    [
      'playwright',
      configFile(root, 'playwright.config') ??
        (deps['@playwright/test'] ? 'the @playwright/test dependency' : undefined),
    ],
    ['vitest', configFile(root, 'vitest.config') ?? (deps.vitest ? 'the vitest dependency' : undefined)],
    ['jest', configFile(root, 'jest.config') ?? (deps.jest || pkg?.jest ? 'the jest dependency' : undefined)],
    [
      'mocha',
      has(root, [
        '.mocharc.json',
        '.mocharc.js',
        '.mocharc.cjs',
        '.mocharc.yml',
        '.mocharc.yaml',
        '.mocharc.jsonc',
      ]) ?? (deps.mocha ? 'the mocha dependency' : undefined),
    ],
    ['node', /\bnode\b.*--test\b/.test(testScript) ? `the test script "${testScript}"` : undefined],
    ['go', has(root, ['go.mod'])],
    [
      'pytest',
      has(root, ['pytest.ini', 'conftest.py', 'tox.ini']) ??
        (/\[tool\.pytest/.test(safeRead(join(root, 'pyproject.toml'))) ? 'pyproject.toml' : undefined),
    ],
  ];
  // The test script names the runner the team actually uses; prefer it when it names one.
  const named = candidates.find(([name, why]) => why && new RegExp(`\\b${name}\\b`).test(testScript));
  const found = named ?? candidates.find(([, why]) => why);
  return found ? { name: found[0], why: found[1]! } : undefined;
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Test globs: from the runner's config where it states them plainly, else those of the
 * runner's defaults that match a file (all of them when none does).
 */
function findInclude(root: string, runner: RunnerName): string[] {
  const stated = statedInclude(root, runner);
  if (stated) return stated;
  const used = DEFAULT_INCLUDE[runner].filter((g) => globSync([g], { cwd: root, ignore: IGNORE }).length > 0);
  return used.length > 0 ? used : DEFAULT_INCLUDE[runner];
}

function statedInclude(root: string, runner: RunnerName): string[] | undefined {
  if (runner === 'mocha') {
    const rc = readJson(join(root, '.mocharc.json'));
    const spec = rc?.spec;
    if (typeof spec === 'string') return [spec];
    if (Array.isArray(spec)) return spec.map(String);
  }
  if (runner === 'playwright') {
    const config = configFile(root, 'playwright.config');
    const dir = config ? /testDir\s*:\s*['"]([^'"]+)['"]/.exec(safeRead(join(root, config)))?.[1] : undefined;
    if (dir) return [`${dir.replace(/^\.\//, '').replace(/\/$/, '')}/**/*.{test,spec}.${JS}`];
  }
  return undefined;
}

/** Services in docker-compose files that seedfork can run from the host's binaries. */
function findServices(root: string, unknown: string[]): FoundService[] {
  const files = [
    'docker-compose.yml',
    'docker-compose.yaml',
    'compose.yml',
    'compose.yaml',
    'docker-compose.test.yml',
  ].filter((f) => existsSync(join(root, f)));
  const services: FoundService[] = [];
  for (const file of files) {
    let doc: { services?: Record<string, { image?: string; ports?: unknown[]; environment?: unknown }> };
    try {
      doc = parseYaml(readFileSync(join(root, file), 'utf8'));
    } catch (error) {
      unknown.push(
        `${file} is not valid YAML (${(error as Error).message.split('\n')[0]}); its services were not read`,
      );
      continue;
    }
    for (const [name, svc] of Object.entries(doc?.services ?? {})) {
      const image = String(svc?.image ?? '');
      const hostPort = (fallback: number) => {
        for (const p of svc?.ports ?? []) {
          const m = /^(?:[\d.]+:)?(\d+):(\d+)/.exec(String(p));
          if (m && Number(m[2]) === fallback) return Number(m[1]);
        }
        return fallback;
      };
      const env = svc?.environment;
      const envValue = (key: string) =>
        Array.isArray(env)
          ? env
              .map(String)
              .find((e) => e.startsWith(`${key}=`))
              ?.slice(key.length + 1)
          : (env as Record<string, unknown> | undefined)?.[key]?.toString();
      if (/(^|\/)(postgres|postgis)/.test(image)) {
        services.push({
          kind: 'postgres',
          name,
          port: hostPort(5432),
          database: envValue('POSTGRES_DB') ?? 'app',
          from: `${file} (${image})`,
        });
      } else if (/(^|\/)redis/.test(image)) {
        services.push({ kind: 'redis', name, port: hostPort(6379), from: `${file} (${image})` });
      } else if (image) {
        unknown.push(`service "${name}" (${image}) in ${file}: add it by hand as { command, ready }`);
      }
    }
  }
  return services;
}

/** Which variable the code reads its database URL from: DATABASE_URL, or TEST_DATABASE_URL & co. */
function findDatabaseUrlVar(root: string): string | undefined {
  const files = globSync(['**/*.{js,mjs,cjs,ts,mts,cts,py,go}'], { cwd: root, ignore: IGNORE }).slice(
    0,
    2000,
  );
  const counts = new Map<string, number>();
  for (const file of files) {
    for (const m of safeRead(join(root, file)).matchAll(/\b([A-Z][A-Z0-9_]*DATABASE_URL)\b/g))
      counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  if (counts.size === 0 || counts.has('DATABASE_URL')) return undefined;
  return [...counts].sort((a, b) => b[1] - a[1])[0]![0];
}

/**
 * Look at a repository and infer what a seedfork config needs: the runner and its test globs,
 * migration and seed scripts, services from docker-compose files, the lock files and migration
 * folders that key the snapshot cache, and the name the code reads the database URL from.
 * Reads files only; never runs anything.
 */
export function inspectProject(root: string): Inspection {
  const unknown: string[] = [];
  const pkg = readJson(join(root, 'package.json'));
  const runner = findRunner(root, pkg);
  const include = runner ? findInclude(root, runner.name) : [];
  const matched = include.length > 0 ? globSync(include, { cwd: root, ignore: IGNORE }).length : 0;
  if (!runner)
    unknown.push('no test runner (jest, vitest, mocha, playwright, node:test, pytest, go): set test.runner');
  else if (matched === 0) unknown.push(`no file matches ${JSON.stringify(include)}: fix test.include`);

  const inputs = [
    'package-lock.json',
    'npm-shrinkwrap.json',
    'yarn.lock',
    'pnpm-lock.yaml',
    'go.sum',
    'poetry.lock',
    'requirements.txt',
    'uv.lock',
  ].filter((f) => existsSync(join(root, f)));
  for (const dir of ['migrations', 'db/migrations', 'prisma/migrations', 'prisma', 'db', 'sql', 'migrate'])
    if (existsSync(join(root, dir)) && readdirSync(join(root, dir)).length > 0) {
      inputs.push(`${dir}/**`);
      break;
    }

  const scripts = (pkg?.scripts as Record<string, string> | undefined) ?? {};
  const steps: Inspection['steps'] = [];
  const migrate = Object.keys(scripts).find((s) => /(^|:)migrate(:latest|:up)?$/.test(s));
  if (migrate) steps.push({ command: `npm run ${migrate}`, why: `the "${migrate}" script` });
  const seed = Object.keys(scripts).find((s) => /(^|:)seed$/.test(s));
  if (seed) steps.push({ command: `npm run ${seed}`, why: `the "${seed}" script` });

  const services = findServices(root, unknown);
  const databaseUrlVar = services.some((s) => s.kind === 'postgres') ? findDatabaseUrlVar(root) : undefined;
  if (steps.length === 0 && services.length > 0)
    unknown.push('no migrate or seed script: add the commands that prepare the database to seed.steps');
  return {
    ...(runner ? { runner } : {}),
    include,
    matched,
    inputs,
    steps,
    services,
    ...(databaseUrlVar ? { databaseUrlVar } : {}),
    unknown,
  };
}
