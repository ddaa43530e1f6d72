import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';

/** The project's own `node_modules/.bin/<name>`, from `root` up to the filesystem root, or undefined. */
export function findNodeBin(root: string, name: string): string | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    const bin = join(dir, 'node_modules', '.bin', name);
    if (existsSync(bin)) return bin;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The first of `names` found as an executable file on `PATH` (absolute path), or undefined. */
export function findOnPath(names: string[], path = process.env.PATH ?? ''): string | undefined {
  for (const name of names) {
    for (const dir of path.split(delimiter).filter(Boolean)) {
      const candidate = join(dir, name);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * `node_modules/.bin/<name>` of the project.
 * @throws SeedforkError naming the npm package to install when it is missing.
 */
export function requireNodeBin(root: string, name: string, pkg: string): string {
  const bin = findNodeBin(root, name);
  if (!bin) {
    throw new SeedforkError(`${pkg} is not installed for ${root} (no node_modules/.bin/${name})`, {
      hint: `Install it: npm install --save-dev ${pkg}`,
    });
  }
  return bin;
}
