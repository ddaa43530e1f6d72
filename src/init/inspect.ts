import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunnerName } from '../adapters/index.js';
import { configFile, firstExisting, readPackage, safeRead } from './project-files.js';
import { type FoundService, findServices } from './services.js';
import { readTestScript, unportableArgs } from './test-script.js';
import { countMatches, findInclude } from './test-selection.js';

export type { FoundService } from './services.js';

/** What {@link inspectProject} found, each item with where it came from (for the config's comments). */
export interface Inspection {
  runner?: { name: RunnerName; why: string };
  include: string[];
  /** Where `include` came from, in words. */
  includeWhy?: string;
  /** How many files `include` matches today. */
  matched: number;
  inputs: string[];
  steps: { command: string; why: string }[];
  services: FoundService[];
  /** Variables the project's test script sets (NODE_OPTIONS with the Node flags it passes). */
  env?: { vars: Record<string, string>; why: string };
  /** What could not be inferred, in words, for the user. */
  unknown: string[];
}

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
      firstExisting(root, [
        '.mocharc.json',
        '.mocharc.js',
        '.mocharc.cjs',
        '.mocharc.yml',
        '.mocharc.yaml',
        '.mocharc.jsonc',
      ]) ?? (deps.mocha ? 'the mocha dependency' : undefined),
    ],
    ['node', /\bnode\b.*--test\b/.test(testScript) ? `the test script "${testScript}"` : undefined],
    ['go', firstExisting(root, ['go.mod'])],
    [
      'pytest',
      firstExisting(root, ['pytest.ini', 'conftest.py', 'tox.ini']) ??
        (/\[tool\.pytest/.test(safeRead(join(root, 'pyproject.toml'))) ? 'pyproject.toml' : undefined),
    ],
  ];
  // The test script names the runner the team actually uses; prefer it when it names one.
  const named = candidates.find(([name, why]) => why && new RegExp(`\\b${name}\\b`).test(testScript));
  const found = named ?? candidates.find(([, why]) => why);
  return found ? { name: found[0], why: found[1]! } : undefined;
}

/**
 * Look at a repository and infer what a seedfork config needs: the runner and the test files it
 * selects (asked of the runner where it can list them: `jest --listTests`, `vitest list`), the
 * variables and Node flags the test script passes, migration and seed scripts, the services
 * (see {@link findServices}) with the variable the code reads each URL from, and the lock files
 * and migration folders that key the snapshot cache. Runs nothing but the runner's list command.
 */
export function inspectProject(dir: string): Inspection {
  const root = resolve(dir);
  const unknown: string[] = [];
  const pkg = readPackage(root);
  const runner = findRunner(root, pkg);
  const selection = runner ? findInclude(root, runner.name, pkg, unknown) : undefined;
  const include = selection?.include ?? [];
  const matched = countMatches(root, include);
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

  const services = findServices(root, pkg, unknown);
  if (steps.length === 0 && services.length > 0)
    unknown.push('no migrate or seed script: add the commands that prepare the database to seed.steps');

  const script = String(scripts.test ?? '');
  const settings = runner ? readTestScript(script, runner.name === 'node' ? 'node' : runner.name) : undefined;
  if (settings && runner) unknown.push(...unportableArgs(runner.name, settings.runnerArgs));
  const vars = settings?.env ?? {};
  return {
    ...(runner ? { runner } : {}),
    include,
    ...(selection ? { includeWhy: selection.why } : {}),
    matched,
    inputs,
    steps,
    services,
    ...(Object.keys(vars).length > 0 ? { env: { vars, why: `the test script "${script}"` } } : {}),
    unknown,
  };
}
