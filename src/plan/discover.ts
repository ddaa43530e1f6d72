import { globSync } from 'tinyglobby';
import { SeedforkError } from '../errors/seedfork-error.js';

/**
 * Test files matched by `include` minus `exclude`, relative to `root`, sorted; mapped to the
 * runner's units by `toUnits` (`go`: package directories). `only` narrows them further (CLI
 * file filters: a unit is kept when its path contains one).
 * @throws SeedforkError when nothing matches.
 */
export function discoverTestFiles(
  root: string,
  include: string[],
  exclude: string[],
  only: string[] = [],
  toUnits?: (files: string[]) => string[],
): string[] {
  const matched = globSync(include, { cwd: root, ignore: exclude, onlyFiles: true }).sort();
  const files = toUnits ? toUnits(matched) : matched;
  const selected = only.length > 0 ? files.filter((f) => only.some((o) => f.includes(o))) : files;
  if (selected.length === 0) {
    throw new SeedforkError(
      `no test files matched test.include ${JSON.stringify(include)}${only.length ? ` and the filter ${JSON.stringify(only)}` : ''} under ${root}`,
      { hint: 'Fix the globs in test.include (they are relative to the config file), or the file filter.' },
    );
  }
  return selected;
}
