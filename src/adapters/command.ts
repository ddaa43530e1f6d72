import type { Adapter } from './types.js';

/** Quote one word for POSIX sh. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Any test command, as a shell template: `{files}` becomes the quoted file list and `{junit}`
 * the report path. `junit` says where the command writes JUnit XML (it may use `{junit}`);
 * without it, a file passes when the command exits 0.
 */
export function commandAdapter(template: string, junit: string | undefined): Adapter {
  const junitTemplate = junit ?? (template.includes('{junit}') ? '{junit}' : undefined);
  return {
    name: 'command',
    filtersTests: false,
    command: (files, ctx) => [
      'sh',
      '-c',
      template
        .replaceAll('{files}', files.map(shellQuote).join(' '))
        .replaceAll('{junit}', shellQuote(ctx.junitPath)),
    ],
    junitFile: (ctx) => junitTemplate?.replaceAll('{junit}', ctx.junitPath),
    check: () => {},
  };
}
