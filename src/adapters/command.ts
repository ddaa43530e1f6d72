import { junitComplete, parseJUnit } from './report-formats.js';
import type { Adapter } from './types.js';

/** Quote one word for POSIX sh. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Any test command, as a shell template: `{files}` becomes the quoted file list and `{junit}`
 * the report path. `junit` says where the command writes JUnit XML (it may use `{junit}`);
 * without it, a file passes when the command exits 0 and reports no test cases.
 */
export function commandAdapter(template: string, junit: string | undefined): Adapter {
  const junitTemplate = junit ?? (template.includes('{junit}') ? '{junit}' : undefined);
  const junitPath = (reportDir: string) => `${reportDir}/junit.xml`;
  return {
    name: 'command',
    filtersTests: false,
    command: (files, ctx) => [
      'sh',
      '-c',
      template
        .replaceAll('{files}', files.map(shellQuote).join(' '))
        .replaceAll('{junit}', shellQuote(junitPath(ctx.reportDir))),
    ],
    results: (ctx) =>
      junitTemplate
        ? { kind: 'file', path: junitTemplate.replaceAll('{junit}', junitPath(ctx.reportDir)) }
        : { kind: 'none' },
    parse: parseJUnit,
    complete: junitComplete,
    check: () => {},
  };
}
