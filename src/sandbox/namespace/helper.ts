import { nativePart } from '../native-parts.js';

/**
 * Absolute path of the namespace helper (seedfork-ns: native/seedfork-ns.c) for this machine:
 * built here by `npm run build`, or from the `@seedfork/<platform>` package (see nativePart).
 * @throws SeedforkError when there is none for this machine, or it was built for another one
 */
export function helperPath(): string {
  return nativePart('seedfork-ns', 'the namespace helper');
}
