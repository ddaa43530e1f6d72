import { join } from 'node:path';
import { requireNodeBin } from './find-bin.js';
import { namePattern } from './name-pattern.js';
import { junitComplete, parseJUnit } from './report-formats.js';
import type { Adapter } from './types.js';

/**
 * Vitest in run mode with the default and junit reporters; the project's vitest config applies.
 * Docs: https://vitest.dev/guide/reporters#junit-reporter
 */
export const vitestAdapter: Adapter = {
  name: 'vitest',
  filtersTests: true,
  command: (files, ctx) => [
    requireNodeBin(ctx.root, 'vitest', 'vitest'),
    'run',
    '--reporter=default',
    '--reporter=junit',
    `--outputFile.junit=${ctx.reportDir}/junit.xml`,
    ...(ctx.testNames ? ['--testNamePattern', namePattern(ctx.testNames)] : []),
    ...(ctx.updateSnapshots ? ['--update'] : []),
    ...files,
  ],
  // Vite's dependency pre-bundling and Vitest's own cache, and tools' node_modules/.cache
  caches: (root) => [join(root, 'node_modules/.vite'), join(root, 'node_modules/.cache')],
  results: (ctx) => ({ kind: 'file', path: `${ctx.reportDir}/junit.xml` }),
  parse: parseJUnit,
  complete: junitComplete,
  // Vitest ends its pool's workers whatever they hold, and its own process `teardownTimeout`
  // (10 s) after closing, with this warning and the verdict of its results
  exitSemantics: {
    kind: 'force-exit',
    warning:
      'Tests closed successfully but something prevents the main process from exiting (Vitest ends it after teardownTimeout; its "hanging-process" reporter names the cause).',
  },
  check: (root) => void requireNodeBin(root, 'vitest', 'vitest'),
};
