import { SeedforkError } from '../errors/seedfork-error.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A duration such as `30d`, `12h`, `90m`, `2w` or `45s`, in ms.
 * @throws SeedforkError on anything else, naming the accepted forms
 */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!match)
    throw new SeedforkError(
      `"${text}" is not a duration: write it as a number and s, m, h, d or w (30d, 12h, 45s)`,
    );
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
