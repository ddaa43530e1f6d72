import { SeedforkError } from '../errors/seedfork-error.js';

/** Largest value of a PostgreSQL `int` column (2^31 - 1). */
export const MAX_INT32 = 2_147_483_647;

/**
 * `value` as a whole number from `min` to `max` (both within Number.MAX_SAFE_INTEGER), for a
 * field of a request or a flag: a string, a fraction, 1e308 or 2^53 + 1 is refused before it
 * can reach the database.
 * @throws SeedforkError naming `field`, the range and what was given
 */
export function wholeNumber(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    throw new SeedforkError(
      `${field} must be a whole number from ${min} to ${max}, not ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
    );
  return value;
}
