import { join } from 'node:path';
import { namePattern } from './name-pattern.js';
import { junitComplete, parseJUnit } from './report-formats.js';
import type { Adapter } from './types.js';

/**
 * node:test through `node --test`, with the spec reporter on stdout and the junit reporter
 * (Node >= 20.11) to a file. Docs: https://nodejs.org/api/test.html#test-reporters
 */
export const nodeAdapter: Adapter = {
  name: 'node',
  filtersTests: true,
  command: (files, ctx) => [
    process.execPath,
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=junit',
    `--test-reporter-destination=${ctx.reportDir}/junit.xml`,
    ...(ctx.testNames ? [`--test-name-pattern=${namePattern(ctx.testNames)}`] : []),
    ...files,
  ],
  caches: (root) => [join(root, 'node_modules/.cache')], // babel, ts-node and friends
  results: (ctx) => ({ kind: 'file', path: `${ctx.reportDir}/junit.xml` }),
  parse: parseJUnit,
  complete: junitComplete,
  exitSemantics: {
    kind: 'wait',
    hint: 'node:test waits for whatever the file left open (a server, a timer, a pool): close it in after(), or run node with --test-force-exit.',
    reportsAtExit: true,
  },
  check: () => {},
};
