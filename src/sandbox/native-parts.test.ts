import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { findNativePart } from './native-parts.js';
import { hostPlatform } from './native-platform.js';

const dir = mkdtempSync(join(tmpdir(), 'seedfork-native-dir-'));
const built = resolve(import.meta.dirname, '../../native/seedfork-ns');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.SEEDFORK_NATIVE_DIR;
});

describe('where the native parts are found', () => {
  test('a checkout uses what npm run build made in native/', () => {
    expect(findNativePart('seedfork-ns')).toEqual({ path: built });
  });

  test('on a platform with prebuilt parts that are not installed, the package and npm’s flag are named', () => {
    // this checkout's native/ was built for this machine, and no @seedfork package is installed
    const other = hostPlatform() === 'linux-arm64-gnu' ? 'linux-x64-gnu' : 'linux-arm64-gnu';
    const missing = findNativePart('seedfork-ns', other);
    expect(missing).toMatchObject({
      why: `seedfork's native seedfork-ns for this machine (${other}) is not installed (${built} was built for ${hostPlatform()})`,
    });
    expect('hint' in missing && missing.hint).toMatch(new RegExp(`@seedfork/${other}.*--omit=optional`));
  });

  test('on a platform with no prebuilt parts, the ones that exist and the build from source are named', () => {
    const missing = findNativePart('seedfork-zygote.node', 'linux-riscv64-gnu');
    expect(missing).toMatchObject({
      why: expect.stringMatching(
        /^seedfork has no prebuilt seedfork-zygote.node for this machine \(linux-riscv64-gnu\)/,
      ),
    });
    expect('hint' in missing && missing.hint).toMatch(
      /linux-x64-gnu, linux-arm64-gnu, linux-x64-musl, linux-arm64-musl\. Build it here: node \S+native\/build\.mjs/,
    );
  });

  test('SEEDFORK_NATIVE_DIR is used alone, and a part missing there says how to build it there', () => {
    process.env.SEEDFORK_NATIVE_DIR = dir;
    const missing = findNativePart('seedfork-ns');
    expect(missing).toMatchObject({ why: `SEEDFORK_NATIVE_DIR=${dir} has no seedfork-ns` });
    expect('hint' in missing && missing.hint).toContain(`--platform ${hostPlatform()} --out ${dir}`);
    copyFileSync(built, join(dir, 'seedfork-ns'));
    expect(findNativePart('seedfork-ns')).toEqual({ path: join(dir, 'seedfork-ns') });
  });
});
