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

  test('SEEDFORK_NATIVE_DIR is used alone, and a part missing there says how to build it there', () => {
    process.env.SEEDFORK_NATIVE_DIR = dir;
    const missing = findNativePart('seedfork-ns');
    expect(missing).toMatchObject({ why: `SEEDFORK_NATIVE_DIR=${dir} has no seedfork-ns` });
    expect('hint' in missing && missing.hint).toContain(`--platform ${hostPlatform()} --out ${dir}`);
    copyFileSync(built, join(dir, 'seedfork-ns'));
    expect(findNativePart('seedfork-ns')).toEqual({ path: join(dir, 'seedfork-ns') });
  });
});
