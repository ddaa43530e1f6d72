import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { diskSpace } from '../src/fs/disk-space.js';
import { close, Sandbox, SeedforkError } from '../src/sdk/index.js';
import { runCli } from './support/cli.js';
import { expectHostClean, type HostState, hostState, isRoot } from './support/host.js';
import { makeProject, REPO } from './support/project.js';

if (!isRoot) console.warn('skipping disk-full tests: mounting a small filesystem needs root');

const passing = `import { test } from 'node:test';\ntest('adds', () => {});\n`;
const PG_BIN = '/usr/lib/postgresql/15/bin';

/**
 * A run whose state directory is on a small ext4 filesystem of its own, filled until seeding
 * fails: the error must say the disk is full, how much is free, and to run `seedfork gc`, and
 * leave nothing behind (no sandbox, half-built snapshot, mount or process).
 */
describe.skipIf(!isRoot)('seeding on a full disk', () => {
  const base = join(REPO, 'test-output', `disk-full-${process.pid}`);
  const image = join(base, 'disk.img');
  const mnt = join(base, 'mnt');
  let before: HostState;

  beforeAll(() => {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(mnt, { recursive: true });
    execFileSync('truncate', ['-s', '64M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    execFileSync('mount', ['-o', 'loop', image, mnt]);
    before = hostState();
  });
  afterAll(async () => {
    await expectHostClean(before);
    execFileSync('umount', [mnt]);
    rmSync(base, { recursive: true, force: true });
  });

  function project(name: string, seed: unknown): { dir: string; stateDir: string } {
    const stateDir = join(mnt, name);
    const dir = makeProject(name, {
      'seedfork.config.json': JSON.stringify({
        stateDir,
        seed,
        test: { include: ['*.test.js'] },
      }),
      'a.test.js': passing,
    });
    return { dir, stateDir };
  }

  /** What is left in the state directory's snapshot and sandbox folders. */
  function leftovers(stateDir: string): string[] {
    return ['sandboxes', 'snapshots']
      .map((d) => join(stateDir, d))
      .filter(existsSync)
      .flatMap((d) => readdirSync(d).map((e) => join(d, e)));
  }

  /**
   * Run `fn` with the small filesystem filled but for 2 MiB (a run's lock files fit, initdb's
   * 40 MB do not), then free it again.
   */
  async function withDiskFilled(fn: () => unknown): Promise<void> {
    const filler = join(mnt, 'filler');
    execFileSync('fallocate', ['-l', String(diskSpace(mnt)!.freeBytes - 2 * 1024 ** 2), filler]);
    try {
      await fn();
    } finally {
      rmSync(filler, { force: true });
    }
  }

  test('a seed step that fills the disk is named as out of disk space, with the free space and `seedfork gc`', async () => {
    const { dir, stateDir } = project('disk-full-step', {
      steps: ['dd if=/dev/zero of=fill.bin bs=1M count=200'],
    });
    const r = await runCli(dir, ['run']);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(/seed step 1\/1 failed/);
    expect(r.out).toMatch(/No space left on device/);
    expect(r.out).toMatch(
      /a write ran out of disk space \([\d.]+ \w+ of [\d.]+ MiB is free now on the filesystem holding /,
    );
    expect(r.out).toContain(stateDir);
    expect(r.out).toMatch(/seedfork gc/);
    expect(r.out).not.toMatch(/Fix the step/);
    expect(leftovers(stateDir)).toEqual([]);
    await expectHostClean(before);
  });

  test.skipIf(!existsSync(`${PG_BIN}/initdb`))(
    "postgres's initdb on a disk already full says so too",
    async () => {
      const { dir, stateDir } = project('disk-full-initdb', {
        services: { postgres: { port: 5432, database: 'app' } },
      });
      await withDiskFilled(async () => {
        const r = await runCli(dir, ['run'], { PATH: `${PG_BIN}:${process.env.PATH}` });
        expect(r.code, r.out).not.toBe(0);
        expect(r.out).toMatch(/initdb for service postgres failed/);
        expect(r.out).toMatch(/a write ran out of disk space \(/);
        expect(r.out).toMatch(/seedfork gc/);
        expect(leftovers(stateDir)).toEqual([]);
      });
      await expectHostClean(before);
    },
  );

  test.skipIf(!existsSync(`${PG_BIN}/initdb`))(
    "the SDK's base sandbox on a full disk says so too (the backend explains, not only `seedfork run`)",
    async () => {
      const stateDir = join(mnt, 'disk-full-sdk');
      const dir = makeProject('disk-full-sdk', { 'a.txt': 'a\n' });
      const path = process.env.PATH;
      process.env.PATH = `${PG_BIN}:${path}`;
      try {
        await withDiskFilled(async () => {
          const error = await Sandbox.create({
            dir,
            stateDir,
            services: { postgres: { port: 5432, database: 'app' } },
          }).catch((e: SeedforkError) => e);
          expect(error).toBeInstanceOf(SeedforkError);
          expect((error as SeedforkError).message).toMatch(/initdb for service postgres failed/);
          expect((error as SeedforkError).message).toMatch(/a write ran out of disk space \(/);
          expect((error as SeedforkError).hint).toMatch(/seedfork gc/);
          expect(leftovers(stateDir)).toEqual([]);
        });
      } finally {
        process.env.PATH = path;
        // the SDK's claim on stateDir (its run lock, open in its helper) goes, or the
        // filesystem could not be unmounted after this file
        await close();
      }
    },
  );
});
