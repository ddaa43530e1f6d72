import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SeedforkError } from '../../errors/seedfork-error.js';
import { checkNativePlatform } from '../native-platform.js';

/**
 * Absolute path of the compiled namespace helper (native/seedfork-ns, built by `npm run build`).
 * Same relative location from src/ (tests) and dist/ (the CLI).
 * @throws SeedforkError when it has not been compiled, or was compiled for another platform.
 */
export function helperPath(): string {
  if (checked) return checked;
  const path = fileURLToPath(new URL('../../../native/seedfork-ns', import.meta.url));
  if (!existsSync(path)) {
    throw new SeedforkError(`the namespace helper ${path} is missing`, {
      hint: 'Build it with `npm run build` (needs a C compiler: apt-get install gcc).',
    });
  }
  checkNativePlatform(path, 'the namespace helper');
  checked = path;
  return path;
}

/** The helper's path once it was found and checked: every exec asks for it, and neither the
 * file nor this machine's platform changes during a run. */
let checked: string | undefined;
