import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SeedforkError } from '../errors/seedfork-error.js';
import { namePattern } from './name-pattern.js';
import type { Adapter } from './types.js';

function findBin(root: string): string | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    const bin = join(dir, 'node_modules', '.bin', 'vitest');
    if (existsSync(bin)) return bin;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Vitest in run mode with the default and junit reporters.
 * Docs: https://vitest.dev/guide/reporters#junit-reporter
 */
export const vitestAdapter: Adapter = {
  name: 'vitest',
  filtersTests: true,
  command: (files, ctx) => [
    findBin(ctx.root) ?? 'vitest',
    'run',
    '--reporter=default',
    '--reporter=junit',
    `--outputFile.junit=${ctx.junitPath}`,
    ...(ctx.testNames ? ['--testNamePattern', namePattern(ctx.testNames)] : []),
    ...files,
  ],
  junitFile: (ctx) => ctx.junitPath,
  check(root) {
    if (!findBin(root)) {
      throw new SeedforkError(`vitest is not installed for ${root}`, {
        hint: 'Install it: npm install --save-dev vitest',
      });
    }
  },
};
