import { execFileSync } from 'node:child_process';
import { basename, isAbsolute, join, relative } from 'node:path';
import { globSync } from 'tinyglobby';
import { parse as parseYaml } from 'yaml';
import { findNodeBin } from '../adapters/find-bin.js';
import type { RunnerName } from '../adapters/index.js';
import { configFile, IGNORE, safeRead } from './project-files.js';

/** The test files of a project, as `test.include` globs, with where they came from. */
export interface TestSelection {
  include: string[];
  /** In words: the runner's own list, its config, or its defaults. */
  why: string;
}

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

const matches = (root: string, globs: string[]) => globSync(globs, { cwd: root, ignore: IGNORE }).sort();

/**
 * The files the runner itself would run, by asking it: `jest --listTests --json` (testMatch,
 * testRegex, roots, projects, testPathIgnorePatterns all applied by Jest) and `vitest list
 * --filesOnly --json` (include, exclude, projects). Undefined when the runner is not installed
 * or cannot answer within 60 s. Paths relative to `root`, sorted.
 */
function askRunner(root: string, runner: RunnerName, unknown: string[]): string[] | undefined {
  const argv =
    runner === 'jest'
      ? ['--listTests', '--json']
      : runner === 'vitest'
        ? ['list', '--filesOnly', '--json']
        : undefined;
  const bin = argv && findNodeBin(root, runner);
  if (!argv || !bin) return undefined;
  try {
    const out = execFileSync(bin, argv, {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    });
    const start = out.indexOf('[');
    const list = JSON.parse(out.slice(start)) as (string | { file: string })[];
    return [
      ...new Set(
        list
          .map((e) => (typeof e === 'string' ? e : e.file))
          .map((f) => (isAbsolute(f) ? relative(root, f) : f)),
      ),
    ].sort();
  } catch (error) {
    const why =
      (error as { stderr?: string }).stderr?.trim().split('\n').slice(-1)[0] ?? (error as Error).message;
    unknown.push(
      `\`${runner} ${argv.join(' ')}\` failed (${why}); the test files were guessed from ${runner}'s defaults`,
    );
    return undefined;
  }
}

/**
 * Globs that match exactly `files` (relative, sorted) and no other file of the project: one per
 * top directory and file-name suffix (`src/**\/*.spec.ts`, `**\/__tests__/**\/*.ts`), else one
 * per directory (`test/*.test.ts`, when a subfolder holds fixtures named like tests).
 * Undefined when neither reproduces the list (a testRegex that picks some files of a pattern).
 */
export function globsFor(root: string, files: string[]): string[] | undefined {
  if (files.length === 0) return undefined;
  const suffix = (name: string) => {
    const s = name.includes('.') ? name.slice(name.indexOf('.')) : name;
    return s.split('.').length > 2 ? s : extension(name);
  };
  const broad = (file: string) => {
    const parts = file.split('/');
    const top = parts.length > 1 ? `${parts[0]}/**/` : '';
    if (parts.includes('__tests__')) return `${top || '**/'}__tests__/**/*${extension(basename(file))}`;
    return `${top}*${suffix(basename(file))}`;
  };
  const perDirectory = (file: string) => {
    const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
    return `${dir}*${suffix(basename(file))}`;
  };
  for (const strategy of [broad, perDirectory]) {
    const list = [...new Set(files.map(strategy))].sort();
    const found = matches(root, list);
    if (found.length === files.length && found.every((f, i) => f === files[i])) return list;
  }
  return undefined;
}

const extension = (name: string) => (name.includes('.') ? name.slice(name.lastIndexOf('.')) : '');

/** What the runner's config states plainly, where the runner cannot be asked. */
function statedInclude(
  root: string,
  runner: RunnerName,
  pkg: Record<string, unknown> | undefined,
): string[] | undefined {
  if (runner === 'mocha') {
    let spec: unknown;
    for (const rc of ['.mocharc.json', '.mocharc.jsonc', '.mocharc.yml', '.mocharc.yaml']) {
      const text = safeRead(join(root, rc));
      if (!text) continue;
      try {
        spec = (parseYaml(text.replace(/^\s*\/\/.*$/gm, '')) as { spec?: unknown })?.spec;
      } catch {}
      if (spec) break;
    }
    for (const rc of ['.mocharc.js', '.mocharc.cjs']) {
      if (spec) break;
      const m = /spec\s*:\s*(\[[^\]]*\]|['"][^'"]+['"])/.exec(safeRead(join(root, rc)));
      if (m) spec = [...m[1]!.matchAll(/['"]([^'"]+)['"]/g)].map((x) => x[1]);
    }
    spec ??= (pkg?.mocha as { spec?: unknown } | undefined)?.spec;
    if (typeof spec === 'string') return [spec.replace(/^\.\//, '')];
    if (Array.isArray(spec)) return spec.map((s) => String(s).replace(/^\.\//, ''));
  }
  if (runner === 'playwright') {
    const config = configFile(root, 'playwright.config');
    const dir = config ? /testDir\s*:\s*['"]([^'"]+)['"]/.exec(safeRead(join(root, config)))?.[1] : undefined;
    if (dir) return [`${dir.replace(/^\.\//, '').replace(/\/$/, '')}/**/*.{test,spec}.${JS}`];
  }
  if (runner === 'pytest') {
    const ini = [
      ['pytest.ini', /\[pytest\]([^[]*)/],
      ['pyproject.toml', /\[tool\.pytest\.ini_options\]([^[]*)/],
      ['tox.ini', /\[pytest\]([^[]*)/],
      ['setup.cfg', /\[tool:pytest\]([^[]*)/],
    ] as const;
    for (const [file, section] of ini) {
      const body = section.exec(safeRead(join(root, file)))?.[1];
      const paths = body && /^\s*testpaths\s*=\s*(.+(?:\n[ \t]+.+)*)/m.exec(body)?.[1];
      if (paths) {
        const dirs = [...paths.matchAll(/["']?([\w./-]+)["']?/g)].map((m) =>
          m[1]!.replace(/^\.\//, '').replace(/\/$/, ''),
        );
        return dirs.flatMap((d) => [`${d}/**/test_*.py`, `${d}/**/*_test.py`]);
      }
    }
  }
  return undefined;
}

/**
 * The project's test files as the runner selects them: asked of the runner where it can say
 * (Jest, Vitest), else read from its config (Mocha `spec`, Playwright `testDir`, pytest
 * `testpaths`), else its default globs that match a file (all of them when none does). A list
 * no glob set reproduces exactly is written file by file.
 */
export function findInclude(
  root: string,
  runner: RunnerName,
  pkg: Record<string, unknown> | undefined,
  unknown: string[],
): TestSelection {
  const listed = askRunner(root, runner, unknown);
  if (listed) {
    const how = runner === 'jest' ? '`jest --listTests`' : '`vitest list --filesOnly`';
    if (listed.length === 0) unknown.push(`${how} lists no test file: fix test.include`);
    const globs = globsFor(root, listed);
    if (globs) return { include: globs, why: `${how}: the ${listed.length} files ${runner} runs` };
    return {
      include: listed,
      why: `${how}, file by file (no glob matches exactly the files ${runner} selects)`,
    };
  }
  const stated = statedInclude(root, runner, pkg);
  if (stated) return { include: stated, why: `${runner}'s config` };
  const used = DEFAULT_INCLUDE[runner].filter((g) => matches(root, [g]).length > 0);
  return used.length > 0
    ? { include: used, why: `${runner}'s default test globs that match files` }
    : { include: DEFAULT_INCLUDE[runner], why: `${runner}'s default test globs` };
}

/** How many files `include` matches today. */
export function countMatches(root: string, include: string[]): number {
  return include.length > 0 ? matches(root, include).length : 0;
}
