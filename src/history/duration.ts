import { SeedforkError } from '../errors/seedfork-error.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Longest duration taken (100 years, in ms): dates beyond stay within the database's range. */
export const MAX_DURATION_MS = 36_500 * 86_400_000;

/**
 * A duration such as `30d`, `12h`, `90m`, `2w` or `45s`, in ms.
 * @throws SeedforkError on anything else, naming the accepted forms, or one over 100 years
 */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!match)
    throw new SeedforkError(
      `"${text}" is not a duration: write it as a number and s, m, h, d or w (30d, 12h, 45s)`,
    );
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  if (ms > MAX_DURATION_MS)
    throw new SeedforkError(`"${text}" is longer than the 100 years a history can go back (36500d)`);
  return ms;
}
