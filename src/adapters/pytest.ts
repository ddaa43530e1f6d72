import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { readJUnit } from '../report/junit-read.js';
import { findOnPath } from './find-bin.js';
import { junitComplete } from './report-formats.js';
import type { Adapter, ParsedReport } from './types.js';

/** argv that starts pytest for `root`: the project's virtualenv first, then PATH, then `python3 -m pytest`. */
function pytestCommand(root: string): string[] | undefined {
  for (const venv of ['.venv', 'venv', 'env']) {
    const bin = join(root, venv, 'bin', 'pytest');
    if (existsSync(bin)) return [bin];
  }
  const onPath = findOnPath(['pytest', 'pytest-3']);
  if (onPath) return [onPath];
  const python = findOnPath(['python3', 'python']);
  if (python && spawnSync(python, ['-c', 'import pytest'], { stdio: 'ignore' }).status === 0)
    return [python, '-m', 'pytest'];
  return undefined;
}

/** pytest's argv by project root: found once per seedfork process, not once per test file
 * (the `python3 -c 'import pytest'` probe takes tens of ms). */
const found = new Map<string, string[] | undefined>();

function requirePytest(root: string): string[] {
  if (!found.has(root)) found.set(root, pytestCommand(root));
  const argv = found.get(root);
  if (!argv) {
    throw new SeedforkError(`pytest is not installed for ${root}`, {
      hint: "Install it: apt-get install python3-pytest, or pip install pytest in the project's .venv",
    });
  }
  return argv;
}

/** `tests/test_db.py` → `tests.test_db`, the module part of pytest's JUnit `classname`. */
const modulePath = (file: string) => file.replace(/\.py$/, '').replaceAll('/', '.');

/**
 * Read pytest's JUnit XML (`--junitxml`): the classname is the test's module path plus its
 * classes, so a case of `tests/test_db.py::TestUsers::test_add[x]` is named
 * `TestUsers > test_add[x]`.
 * @throws SeedforkError when the XML is malformed.
 */
export function parsePytestJUnit(text: string, files: string[]): ParsedReport {
  const modules = files.map(modulePath);
  const tests = readJUnit(text).map((t) => {
    const module = modules.find((m) => t.classname === m || t.classname.startsWith(`${m}.`));
    const classes = module !== undefined ? t.classname.slice(module.length + 1) : '';
    const own = t.name.split(' > ').at(-1)!;
    return { ...t, name: [...(classes ? classes.split('.') : []), own].join(' > ') };
  });
  return { tests };
}

/**
 * pytest with JUnit XML (`--junitxml`, xunit2). Single test cases run by node id
 * (`file::Class::test[param]`). The project's pytest.ini / pyproject.toml / setup.cfg apply
 * (pytest finds them from the root). Docs: https://docs.pytest.org/en/stable/how-to/output.html
 */
/**
 * Where Python writes bytecode under seedfork (PYTHONPYCACHEPREFIX, Python 3.8+): one tree inside
 * `.pytest_cache`, which pytest keeps out of git, instead of `__pycache__` beside every module.
 */
export function pycachePrefix(root: string): string {
  return join(root, '.pytest_cache/seedfork-pycache');
}

export const pytestAdapter: Adapter = {
  name: 'pytest',
  filtersTests: true,
  command: (files, ctx) => [
    ...requirePytest(ctx.root),
    `--junitxml=${ctx.reportDir}/pytest.xml`,
    '-o',
    'junit_family=xunit2',
    '-p',
    'no:cacheprovider',
    ...(ctx.testNames
      ? files.flatMap((f) => ctx.testNames!.map((n) => [f, ...n.split(' > ')].join('::')))
      : files),
  ],
  // pytest's cache (last failures, step-wise) and the bytecode of the tests and the code they import
  caches: (root) => [join(root, '.pytest_cache')],
  env: (ctx, env): Record<string, string> =>
    env.PYTHONPYCACHEPREFIX ? {} : { PYTHONPYCACHEPREFIX: pycachePrefix(ctx.root) },
  results: (ctx) => ({ kind: 'file', path: `${ctx.reportDir}/pytest.xml` }),
  parse: (text, ctx) => parsePytestJUnit(text, ctx.units),
  complete: junitComplete,
  check: (root) => void requirePytest(root),
};
