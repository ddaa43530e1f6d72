import { readFileSync, writeFileSync } from 'node:fs';
import { type CpioEntry, cpioNewc } from './cpio.js';

/**
 * Write the guest's initramfs to `out`: the agent as `/init` (PID 1), the kernel modules it loads
 * before anything else, and `/modules.order`, their load order. Uncompressed: under software
 * emulation the kernel would spend longer decompressing it than reading it.
 */
export function writeInitramfs(
  agent: string,
  modules: readonly { name: string; path: string }[],
  out: string,
): void {
  const entries: CpioEntry[] = [
    { path: 'init', data: readFileSync(agent), mode: 0o755 },
    { path: 'lib' },
    { path: 'lib/modules' },
    ...modules.map((m) => ({ path: `lib/modules/${m.name}.ko`, data: readFileSync(m.path) })),
    { path: 'modules.order', data: Buffer.from(modules.map((m) => `/lib/modules/${m.name}.ko\n`).join('')) },
  ];
  writeFileSync(out, cpioNewc(entries));
}
