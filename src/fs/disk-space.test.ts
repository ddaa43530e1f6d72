import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { diskSpace, diskUsage } from './disk-space.js';

const dir = mkdtempSync(join(tmpdir(), 'seedfork-disk-space-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('diskSpace', () => {
  test('reads the free space of the filesystem holding a directory', () => {
    const space = diskSpace(dir);
    expect(space?.totalBytes).toBeGreaterThan(0);
    expect(space?.freeBytes).toBeLessThanOrEqual(space?.totalBytes ?? 0);
    expect(space?.blockBytes).toBeGreaterThanOrEqual(512);
    expect(diskSpace(join(dir, 'missing'))).toBeUndefined();
  });
});

describe('diskUsage', () => {
  test('counts the blocks a tree holds, not the sizes its files claim, and follows no link', () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'data'), Buffer.alloc(1024 * 1024, 1));
    const before = diskUsage(tree);
    expect(before).toBeGreaterThanOrEqual(1024 * 1024);
    // a sparse file claims 1 GiB and holds nothing; a link to the data adds only itself
    const sparse = join(tree, 'sparse');
    writeFileSync(sparse, '');
    truncateSync(sparse, 1024 ** 3);
    symlinkSync(join(tree, 'sub'), join(tree, 'link'));
    expect(diskUsage(tree) - before).toBeLessThan(64 * 1024);
    expect(diskUsage(join(dir, 'missing'))).toBe(0);
  });
});
