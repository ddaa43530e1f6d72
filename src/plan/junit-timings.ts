import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { readJUnitLocations } from '../report/junit-read.js';

/** Strip extensions so a module path (`tests.test_api`, `com.acme.ApiTest`) can match a file. */
function withoutExtension(path: string): string {
  return path.replace(/(\.(test|spec))?\.[cm]?[jt]sx?$|\.py$|\.go$|\.java$|\.kt$/, '');
}

/**
 * Find which of `files` a JUnit location string names: a relative path, an absolute path from
 * any checkout (matched by its tail), or a dotted module/class name.
 */
function matcher(root: string, files: string[]): (candidate: string) => string | undefined {
  const exact = new Set(files);
  const byModule = new Map<string, string>();
  for (const f of files) byModule.set(withoutExtension(f).replaceAll('/', '.'), f);
  return (raw) => {
    let candidate = raw.trim().replace(/^\.\//, '');
    if (isAbsolute(candidate)) {
      const rel = relative(root, candidate);
      if (!rel.startsWith('..')) candidate = rel;
    }
    if (exact.has(candidate)) return candidate;
    const tail = files.find((f) => candidate.endsWith(`/${f}`));
    if (tail) return tail;
    if (!candidate.includes('/')) {
      const moduleName = withoutExtension(candidate);
      if (byModule.has(moduleName)) return byModule.get(moduleName);
      // A class inside the module (pytest `tests.test_api.TestTodos`): drop trailing segments.
      const parts = moduleName.split('.');
      for (let n = parts.length - 1; n > 0; n--) {
        const hit = byModule.get(parts.slice(0, n).join('.'));
        if (hit) return hit;
      }
    }
    return undefined;
  };
}

/**
 * Per-file durations (ms) read from earlier JUnit XML reports of any runner: each test case is
 * attributed to the test file its `file` attribute, suite or classname names, and a file's
 * duration is the sum of its cases. A file in several reports gets the mean over them.
 * Cases naming no file of `files` are ignored.
 * @throws SeedforkError when a report cannot be read or parsed (naming the report).
 */
export function timingsFromJUnit(root: string, files: string[], reports: string[]): Map<string, number> {
  const match = matcher(root, files);
  const sums = new Map<string, number[]>();
  for (const report of reports) {
    let xml: string;
    try {
      xml = readFileSync(report, 'utf8');
    } catch (error) {
      throw new SeedforkError(`cannot read the JUnit report ${report}: ${(error as Error).message}`, {
        hint: 'Check the --timings-from paths (or timings.junit in the config).',
        cause: error,
      });
    }
    let locations: ReturnType<typeof readJUnitLocations>;
    try {
      locations = readJUnitLocations(xml);
    } catch (error) {
      throw new SeedforkError(`${report}: ${(error as Error).message}`, {
        hint: 'Pass JUnit XML reports written by a test runner, or drop this one from --timings-from.',
        cause: error,
      });
    }
    const perFile = new Map<string, number>();
    for (const location of locations) {
      const file = location.candidates.map(match).find((f) => f !== undefined);
      if (file) perFile.set(file, (perFile.get(file) ?? 0) + location.durationMs);
    }
    for (const [file, ms] of perFile) sums.set(file, [...(sums.get(file) ?? []), ms]);
  }
  const result = new Map<string, number>();
  for (const [file, samples] of sums) result.set(file, samples.reduce((a, b) => a + b, 0) / samples.length);
  return result;
}
