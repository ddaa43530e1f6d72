import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Repository root. */
export const REPO = resolve(import.meta.dirname, '../..');
/** Built CLI. */
export const CLI = join(REPO, 'dist/cli/main.js');

/**
 * Write a throwaway project under test-output/ (not /tmp: sandboxes get a private /tmp, so a
 * project there would be invisible inside them). Returns its directory.
 */
export function makeProject(name: string, files: Record<string, string>): string {
  const dir = join(REPO, 'test-output', 'projects', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
