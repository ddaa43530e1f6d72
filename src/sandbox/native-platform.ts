import { closeSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SeedforkError } from '../errors/seedfork-error.js';

/** seedfork's build of its native parts (native/build.mjs, shipped with its C sources). */
export const BUILD_SCRIPT = fileURLToPath(new URL('../../native/build.mjs', import.meta.url));

/** How to build the native parts on a machine seedfork has no prebuilt ones for. */
export const BUILD_HERE = `node ${BUILD_SCRIPT} (needs a C compiler: apt-get install gcc libc6-dev, or apk add build-base on Alpine)`;

/** A platform as Node's packages name them: `linux-x64-gnu`, `linux-arm64-musl`. */
export type NativePlatform = string;

/** ELF `e_machine` values (the ELF specification's machine table) to Node's `process.arch`. */
const MACHINES: Record<number, string> = { 62: 'x64', 183: 'arm64', 3: 'ia32', 40: 'arm', 243: 'riscv64' };

/** The platform this process runs on: its architecture and C library (glibc when Node's report
 * names a glibc version, else musl). */
export function hostPlatform(): NativePlatform {
  if (thisHost) return thisHost;
  // a diagnostic report takes a few ms to build: ask once
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  thisHost = `${process.platform}-${process.arch}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
  return thisHost;
}

let thisHost: NativePlatform | undefined;

/**
 * The platform an ELF executable or shared object was built for, from its header (e_machine at
 * byte 18) and the C library it links (the dynamic loader an executable names, `ld-musl-…` or
 * `ld-linux-…`, or the `libc.so.6` (glibc) or `libc.so` (musl) a shared object needs; a static
 * binary counts as the host's libc). Reads the first 64 KiB, where both live in a small binary.
 * Undefined when the file is not ELF.
 */
export function binaryPlatform(path: string, host = hostPlatform()): NativePlatform | undefined {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(64 * 1024);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined; // "\x7fELF"
  const littleEndian = head[5] === 1;
  const machine = littleEndian ? head.readUInt16LE(18) : head.readUInt16BE(18);
  const text = head.subarray(0, n).toString('latin1');
  let libc = host.split('-')[2];
  if (text.includes('ld-musl-')) libc = 'musl';
  else if (text.includes('ld-linux') || text.includes('libc.so.6\0')) libc = 'gnu';
  else if (text.includes('\0libc.so\0')) libc = 'musl';
  return `linux-${MACHINES[machine] ?? `machine-${machine}`}-${libc}`;
}

/**
 * Check that a native part of seedfork (`what`, at `path`) was built for this machine: a helper
 * built for another architecture or C library would fail with a bare ENOEXEC or ENOENT.
 * @throws SeedforkError naming both platforms and how to rebuild it here.
 */
export function checkNativePlatform(path: string, what: string): void {
  const host = hostPlatform();
  const built = binaryPlatform(path, host);
  if (!built || built === host) return;
  throw new SeedforkError(`${what} ${path} was built for ${built}, and this machine is ${host}`, {
    hint: `Build it for this machine: ${BUILD_HERE}`,
  });
}
