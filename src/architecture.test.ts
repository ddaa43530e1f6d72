import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

/** The layers of docs/architecture.md, top first: a module imports only from its own layer and those above. */
const LAYERS = [
  'errors',
  'http',
  'polling',
  'pg',
  'locks',
  'config',
  'fs',
  'sandbox',
  'seed',
  'report',
  'adapters',
  'plan',
  'init',
  'run',
  'sdk',
  'audit',
  'history',
  'server',
  'integrations',
  'cli',
];

const SRC = import.meta.dirname;

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return modules(path);
    return /\.c?ts$/.test(e.name) && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

test('every module imports only from its own layer and the layers above it (docs/architecture.md)', () => {
  const violations: string[] = [];
  for (const file of modules(SRC)) {
    const rel = relative(SRC, file);
    const layer = rel.includes('/') ? rel.split('/')[0]! : undefined;
    if (!layer) continue; // src/index.ts: the public SDK re-exports from anywhere
    expect(LAYERS, `${rel} is in a folder docs/architecture.md does not list`).toContain(layer);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(SRC, join(file, '..', m[1]!)).split('/')[0]!;
      if (target === layer || !LAYERS.includes(target)) continue;
      if (LAYERS.indexOf(target) > LAYERS.indexOf(layer))
        violations.push(`${rel} imports ${m[1]} (${target} is below ${layer})`);
    }
  }
  expect(violations).toEqual([]);
});
