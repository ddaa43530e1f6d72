import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CancelledError, SeedforkError } from '../errors/seedfork-error.js';
import { explainDiskFull, mentionsDiskFull } from './disk-full.js';
import { diskSpace } from './disk-space.js';

const dir = mkdtempSync(join(tmpdir(), 'seedfork-disk-full-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mentionsDiskFull', () => {
  test('finds ENOSPC and EDQUOT in codes, messages, details and causes', () => {
    expect(mentionsDiskFull(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toBe(true);
    expect(mentionsDiskFull(new Error("dd: error writing 'big': No space left on device"))).toBe(true);
    const initdb = new SeedforkError('initdb for service postgres failed (exit 1)', {
      details: 'initdb: error: could not write to file "pg_wal/xlogtemp.12": No space left on device',
    });
    expect(mentionsDiskFull(initdb)).toBe(true);
    expect(mentionsDiskFull(new Error('step failed', { cause: { code: 'EDQUOT' } }))).toBe(true);
    expect(
      mentionsDiskFull(new SeedforkError('x', { details: 'ERROR:  could not extend file "base/5/16384"' })),
    ).toBe(true);
  });

  test('does not blame the disk for other failures', () => {
    expect(mentionsDiskFull(new Error('relation "users" does not exist'))).toBe(false);
    expect(mentionsDiskFull(Object.assign(new Error('gone'), { code: 'ENOENT' }))).toBe(false);
    expect(mentionsDiskFull(undefined)).toBe(false);
    // a word that merely contains the code is not the code
    expect(mentionsDiskFull(new Error('XENOSPCY'))).toBe(false);
  });
});

describe('explainDiskFull', () => {
  const space = diskSpace(dir);

  test('leaves a failure alone that has nothing to do with the disk, or a cancellation', () => {
    const step = new SeedforkError('seed step 1/1 failed', { hint: 'Fix the step' });
    // this machine's temporary directory has more than 64 MiB free
    expect(space!.freeBytes).toBeGreaterThan(64 * 1024 ** 2);
    expect(explainDiskFull(step, dir)).toBe(step);
    const cancelled = new CancelledError();
    expect(explainDiskFull(cancelled, dir)).toBe(cancelled);
  });

  test('a write that failed with ENOSPC is named, with the free space, `seedfork gc` and the tmpfs limits', () => {
    const step = new SeedforkError('seed step 1/1 failed: `dd` exited with 1', {
      details: "dd: error writing '/tmp/big': No space left on device",
      hint: 'Fix the step',
    });
    const explained = explainDiskFull(step, dir) as SeedforkError;
    expect(explained).toBeInstanceOf(SeedforkError);
    expect(explained.message).toMatch(
      /^seed step 1\/1 failed: `dd` exited with 1: a write ran out of disk space \([\d.]+ \w+ of [\d.]+ \w+ is free now on the filesystem holding /,
    );
    expect(explained.message).toContain(dir);
    expect(explained.hint).toMatch(/seedfork gc/);
    expect(explained.hint).toMatch(/\/tmp and \/dev\/shm/);
    expect(explained.hint).not.toMatch(/Fix the step/);
    expect(explained.details).toBe(step.details);
    expect(explained.cause).toBe(step);
    // explained once: the run's environment explains what the backend's fork already did
    expect(explainDiskFull(explained, dir)).toBe(explained);
  });

  test('a directory that cannot be read still gets the remedy', () => {
    const explained = explainDiskFull(
      Object.assign(new Error('mkdir failed'), { code: 'ENOSPC' }),
      join(dir, 'missing'),
    ) as SeedforkError;
    expect(explained.message).toBe(
      `mkdir failed: a write ran out of disk space (the filesystem holding ${join(dir, 'missing')} cannot be read)`,
    );
    expect(explained.hint).toMatch(/seedfork gc/);
  });
});
