import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files that are never the project's own (dependencies, builds, virtualenvs), for globs. */
export const IGNORE = [
  '**/node_modules/**',
  '**/.git/**',
  '**/vendor/**',
  '**/.venv/**',
  '**/venv/**',
  '**/dist/**',
];

/** A file's text, or '' when it cannot be read. */
export function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** package.json, or undefined. */
export function readPackage(root: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** The first of `names` (relative to `root`) that exists. */
export const firstExisting = (root: string, names: string[]) => names.find((n) => existsSync(join(root, n)));

/** A tool's config file `<base>.<js|mjs|cjs|ts|mts|cts|json>` in `root`, the first that exists. */
export const configFile = (root: string, base: string) =>
  firstExisting(
    root,
    ['js', 'mjs', 'cjs', 'ts', 'mts', 'cts', 'json'].map((e) => `${base}.${e}`),
  );
