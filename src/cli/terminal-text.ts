import { stripVTControlCharacters } from 'node:util';

/** The longest line of a test's output or message printed to the console, in characters. */
export const MAX_LINE = 400;

/**
 * Text from a test (its name, message or output) made safe to print on a terminal: escape
 * sequences removed (colours, cursor movement, window titles), every other control character
 * except tab and newline written as a visible `\uXXXX` (a BEL, a lone ESC, a carriage return
 * that would overwrite the line), and each line cut at {@link MAX_LINE} characters.
 */
export function forTerminal(text: string): string {
  return stripVTControlCharacters(text)
    .replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .split('\n')
    .map((line) =>
      line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}… (${line.length - MAX_LINE} more)` : line,
    )
    .join('\n');
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
