import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { binaryPlatform, checkNativePlatform, hostPlatform } from './native-platform.js';

const dir = mkdtempSync(join(tmpdir(), 'seedfork-elf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal little-endian ELF header for `machine`, with `interp` somewhere after it. */
function elf(name: string, machine: number, interp: string): string {
  const head = Buffer.alloc(256);
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = 2; // 64-bit
  head[5] = 1; // little-endian
  head.writeUInt16LE(machine, 18);
  head.write(interp, 64, 'latin1');
  const path = join(dir, name);
  writeFileSync(path, head);
  return path;
}

describe('native parts built for another platform', () => {
  test('the helper this checkout built is for this machine', () => {
    const helper = resolve(import.meta.dirname, '../../native/seedfork-ns');
    expect(binaryPlatform(helper)).toBe(hostPlatform());
    expect(() => checkNativePlatform(helper, 'the namespace helper')).not.toThrow();
    // a shared object names no loader: its libc is the one it needs (libc.so.6 here)
    expect(binaryPlatform(resolve(helper, '../seedfork-zygote.node'), 'linux-x64-musl')).toBe(hostPlatform());
  });

  test.each([
    ['an arm64 glibc build', 0xb7, '/lib/ld-linux-aarch64.so.1', 'linux-arm64-gnu'],
    ['an x64 musl build (Alpine)', 0x3e, '/lib/ld-musl-x86_64.so.1', 'linux-x64-musl'],
  ])(
    '%s is named with the machine’s own platform and how to rebuild',
    (_label, machine, interp, platform) => {
      const path = elf(`seedfork-ns-${platform}`, machine, interp);
      expect(binaryPlatform(path, 'linux-x64-gnu')).toBe(platform);
      if (platform === hostPlatform()) return;
      expect(() => checkNativePlatform(path, 'the namespace helper')).toThrow(
        new RegExp(`was built for ${platform}, and this machine is ${hostPlatform()}`),
      );
    },
  );

  test('a file that is not ELF is not judged', () => {
    const path = join(dir, 'script');
    writeFileSync(path, '#!/bin/sh\n');
    expect(binaryPlatform(path)).toBeUndefined();
  });
});
