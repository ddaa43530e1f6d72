import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeedforkError } from '../errors/seedfork-error.js';
import {
  BUILD_HERE,
  BUILD_SCRIPT,
  binaryPlatform,
  checkNativePlatform,
  hostPlatform,
} from './native-platform.js';

/**
 * The compiled parts of seedfork (native/): the namespace helper, the process zygote's Node-API
 * addon and the microvm guest's agent.
 */
export type NativePart = 'seedfork-ns' | 'seedfork-zygote.node' | 'seedfork-agent';

/**
 * The platforms seedfork publishes prebuilt native parts for, each as the package
 * `@seedfork/<platform>` that seedfork names as an optional dependency; npm installs the one
 * whose `os`, `cpu` and `libc` fit the machine (the pattern of esbuild and Biome).
 */
export const PREBUILT_PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl'];

/** seedfork's own directory: src/sandbox/ and dist/sandbox/ are both two levels below it. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The name of the package with `platform`'s prebuilt native parts. */
export function platformPackage(platform: string): string {
  return `@seedfork/${platform}`;
}

/**
 * Where `part` is for this machine, in this order:
 * 1. `$SEEDFORK_NATIVE_DIR/<part>` when that variable is set (nothing else is tried then);
 * 2. seedfork's own `native/<part>`, when it was built here for this platform (a git checkout
 *    after `npm run build`, or `node native/build.mjs` on a platform with no prebuilt parts);
 * 3. the `@seedfork/<platform>` package installed beside seedfork.
 * @param host the platform to find it for (default: this machine's)
 * @returns the absolute path, or `why` it is not there (for a message, with what to do)
 */
export function findNativePart(
  part: NativePart,
  host = hostPlatform(),
): { path: string } | { why: string; hint: string } {
  const pinned = process.env.SEEDFORK_NATIVE_DIR;
  if (pinned) {
    const path = join(pinned, part);
    if (existsSync(path)) return { path };
    return {
      why: `SEEDFORK_NATIVE_DIR=${pinned} has no ${part}`,
      hint: `Unset SEEDFORK_NATIVE_DIR, or build the parts into it: node ${BUILD_SCRIPT} --platform ${host} --out ${pinned}`,
    };
  }
  const local = join(PACKAGE_ROOT, 'native', part);
  const localPlatform = existsSync(local) ? binaryPlatform(local, host) : undefined;
  if (localPlatform === host) return { path: local };
  const name = platformPackage(host);
  try {
    const dir = dirname(createRequire(join(PACKAGE_ROOT, 'package.json')).resolve(`${name}/package.json`));
    if (existsSync(join(dir, part))) return { path: join(dir, part) };
  } catch {
    // not installed
  }
  const elsewhere = localPlatform ? ` (${local} was built for ${localPlatform})` : '';
  if (PREBUILT_PLATFORMS.includes(host)) {
    return {
      why: `seedfork's native ${part} for this machine (${host}) is not installed${elsewhere}`,
      hint:
        `It comes in ${name}, an optional dependency of seedfork that npm installs on this platform ` +
        'unless optional dependencies were left out (--omit=optional, --no-optional) or the lock file ' +
        `was made without it: npm install ${name} adds it. Or build it here: ${BUILD_HERE}.`,
    };
  }
  return {
    why: `seedfork has no prebuilt ${part} for this machine (${host})${elsewhere}`,
    hint: `Prebuilt ones exist for ${PREBUILT_PLATFORMS.join(', ')}. Build it here: ${BUILD_HERE}.`,
  };
}

/**
 * The path of `part` for this machine (see {@link findNativePart}), checked to be built for it.
 * Found once per process: neither the files nor the machine change during a run.
 * @param what how messages name the part ("the namespace helper")
 * @throws SeedforkError when it is missing or built for another platform, with what to do
 */
export function nativePart(part: NativePart, what: string): string {
  const known = found.get(part);
  if (known) return known;
  const where = findNativePart(part);
  if ('why' in where) throw new SeedforkError(`${what}: ${where.why}`, { hint: where.hint });
  checkNativePlatform(where.path, what);
  found.set(part, where.path);
  return where.path;
}

const found = new Map<NativePart, string>();
