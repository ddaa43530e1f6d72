import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeBoot } from '../src/sandbox/microvm/accel-probe.js';
import { writeProjectDisk } from '../src/sandbox/microvm/project-disk.js';
import type { Guest } from '../src/sandbox/microvm/qemu.js';
import { qemuBinary, startGuest } from '../src/sandbox/microvm/qemu.js';
import { type GuestAssets, guestAssets, VmSnapshot } from '../src/sandbox/microvm/vm-snapshot.js';
import { microvmMissing, qemuPids } from './support/microvm.js';
import { REPO } from './support/project.js';

const why = microvmMissing();
if (why) console.warn(`skipping the microvm tests: ${why}`);

const PG = '/usr/lib/postgresql/15/bin';
describe.skipIf(why !== undefined)(
  'the microvm guest: a kernel of its own, forked from a running snapshot',
  () => {
    let assets: GuestAssets;
    let snapshot: VmSnapshot;
    let work: string;
    let postmaster = '';
    const sh = async (guest: Guest, script: string) => {
      const r = await guest.agent.exec(['/bin/sh', '-c', script]);
      expect(r.exitCode, `${script}\n${r.stdout}${r.stderr}`).toBe(0);
      return r.stdout.trim();
    };

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'seedfork-microvm-'));
      assets = await guestAssets({ onBuild: (what) => console.log(`building ${what}`) });
      console.log(
        `microvm accelerator: ${assets.accel.accel}${assets.accel.reason ? ` (${assets.accel.reason})` : ''}`,
      );
      // the seed: PostgreSQL initialised and started inside the guest, one row written, then saved
      snapshot = await VmSnapshot.create(
        assets,
        join(work, 'snapshot'),
        { memoryMiB: 512, cpus: 1 },
        async (guest) => {
          await sh(
            guest,
            `mkdir -p /var/lib/pg && chown postgres /var/lib/pg && runuser -u postgres -- ${PG}/initdb -D /var/lib/pg/data -A trust > /dev/null`,
          );
          await sh(
            guest,
            `runuser -u postgres -- ${PG}/pg_ctl -D /var/lib/pg/data -o "-c listen_addresses=127.0.0.1 -c fsync=off" -l /var/lib/pg/log -w start > /dev/null`,
          );
          await sh(
            guest,
            `psql -U postgres -h 127.0.0.1 -Atc "create table seeded (n int); insert into seeded values (1)"`,
          );
          postmaster = await sh(guest, 'head -1 /var/lib/pg/data/postmaster.pid');
        },
      );
    }, 600_000);

    afterAll(() => {
      snapshot?.remove();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('a fork resumes with the PostgreSQL started before the snapshot; forks draw different random bytes and get the host clock', async () => {
      const [a, b] = [await snapshot.fork(join(work, 'a')), await snapshot.fork(join(work, 'b'))];
      try {
        for (const guest of [a, b]) {
          expect(await guest.agent.probePort(5432)).toBe(true); // accepting at once, no start
          expect(await guest.agent.probePort(5433)).toBe(false);
          // the same postmaster process as in the seed: it was not started again
          expect(await sh(guest, 'head -1 /var/lib/pg/data/postmaster.pid')).toBe(postmaster);
          expect(await sh(guest, `cat /proc/${postmaster}/comm`)).toBe('postgres');
          expect(
            await sh(
              guest,
              'psql -U postgres -h 127.0.0.1 -qAtc "insert into seeded values (2); select count(*) from seeded"',
            ),
          ).toBe('2');
          const guestNow = Number(await sh(guest, 'date +%s'));
          expect(Math.abs(guestNow - Date.now() / 1000)).toBeLessThan(30);
        }
        const random = (g: Guest) => sh(g, 'head -c 16 /dev/urandom | od -An -tx1');
        expect(await random(a)).not.toBe(await random(b));
      } finally {
        await a.kill();
        await b.kill();
      }
    });

    test('a test may change a global sysctl and the clock in its guest: neither the next fork nor the host sees it', async () => {
      const hostSwappiness = readFileSync('/proc/sys/vm/swappiness', 'utf8').trim();
      const first = await snapshot.fork(join(work, 'first'));
      let seeded = '';
      try {
        seeded = await sh(first, 'cat /proc/sys/vm/swappiness');
        await sh(first, 'sysctl -q -w vm.swappiness=7');
        expect(await sh(first, 'cat /proc/sys/vm/swappiness')).toBe('7');
        await sh(first, 'date -s "2001-02-03 04:05:06" > /dev/null');
        expect(await sh(first, 'date +%Y')).toBe('2001');
        expect(await sh(first, 'cat /proc/sys/kernel/random/boot_id')).not.toBe(
          readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
        );
      } finally {
        await first.kill();
      }
      const next = await snapshot.fork(join(work, 'next'));
      try {
        expect(await sh(next, 'cat /proc/sys/vm/swappiness')).toBe(seeded);
        expect(Number(await sh(next, 'date +%Y'))).toBe(new Date().getUTCFullYear());
      } finally {
        await next.kill();
      }
      expect(readFileSync('/proc/sys/vm/swappiness', 'utf8').trim()).toBe(hostSwappiness);
      expect(new Date().getUTCFullYear()).toBeGreaterThan(2001);
    });

    test("a fork sees the project's current files at their host path; what a test writes there stays in its guest", async () => {
      const project = join(work, 'project');
      mkdirSync(join(project, '.git'), { recursive: true });
      writeFileSync(join(project, 'before.txt'), 'written before the snapshot was used');
      writeFileSync(join(project, '.git', 'HEAD'), 'ref: main');
      writeFileSync(join(project, 'after.txt'), 'written for this run');
      const disk = join(work, 'project.ext4');
      await writeProjectDisk(project, disk, ['.git']);
      const first = await snapshot.fork(join(work, 'p1'), { mounts: [{ disk, mountAt: project }] });
      try {
        expect(await sh(first, `cat ${project}/before.txt ${project}/after.txt`)).toBe(
          'written before the snapshot was usedwritten for this run',
        );
        expect(await sh(first, `test -e ${project}/.git && echo yes || echo no`)).toBe('no');
        await sh(first, `echo from-the-guest > ${project}/written.txt && rm ${project}/before.txt`);
      } finally {
        await first.kill();
      }
      expect(existsSync(join(project, 'written.txt'))).toBe(false);
      expect(existsSync(join(project, 'before.txt'))).toBe(true);
      const second = await snapshot.fork(join(work, 'p2'), { mounts: [{ disk, mountAt: project }] });
      try {
        expect(await sh(second, `ls ${project}`)).toBe('after.txt\nbefore.txt');
      } finally {
        await second.kill();
      }
    });

    test('a probe boot (the check before trusting KVM) comes up with a working accelerator and says why it does not with a broken guest', async () => {
      expect(
        await probeBoot({ vmlinux: assets.kernel.vmlinux, initramfs: assets.initramfs }, 'tcg'),
      ).toBeUndefined();
      const broken = join(work, 'broken-initramfs');
      writeFileSync(broken, 'not a cpio archive');
      const failure = await probeBoot({ vmlinux: assets.kernel.vmlinux, initramfs: broken }, 'tcg', 5_000);
      expect(failure).toMatch(/did not become ready|QEMU exited/);
      expect(qemuPids()).toEqual([]);
    });

    test('killing forks leaves no QEMU process and none of their files', async () => {
      const guest = await snapshot.fork(join(work, 'gone'));
      expect(qemuPids().length).toBeGreaterThan(0);
      await guest.kill();
      expect(existsSync(join(work, 'gone'))).toBe(false);
      expect(qemuPids()).toEqual([]);
    });

    test('a seedfork process killed with SIGKILL takes its guests with it', async () => {
      const holder = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO, 'test/support/guest-holder.mts')],
        {
          cwd: REPO,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      holder.stdout.on('data', (d) => {
        out += d;
      });
      const deadline = Date.now() + 60_000;
      while (!/ready \d+/.test(out) && Date.now() < deadline && holder.exitCode === null)
        await new Promise((r) => setTimeout(r, 50));
      const [, pid, dir, sockets] = /ready (\d+) (\S+) (\S+)/.exec(out) ?? [];
      expect(pid, out).toBeDefined();
      expect(qemuPids().length).toBeGreaterThan(0);
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      const gone = Date.now() + 5_000;
      while (qemuPids().length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
      expect(qemuPids()).toEqual([]);
      rmSync(dir!, { recursive: true, force: true });
      rmSync(sockets!, { recursive: true, force: true }); // a SIGKILLed process cleans nothing up
    });

    test('a guest that never reports ready: the error shows its console, and QEMU is gone', async () => {
      const broken = join(work, 'broken-initramfs');
      writeFileSync(broken, 'not an initramfs');
      const runDir = mkdtempSync(join(work, 'broken-'));
      await expect(
        startGuest(
          {
            vmlinux: assets.kernel.vmlinux,
            initramfs: broken,
            disks: [],
            append: [],
            memoryMiB: 256,
            cpus: 1,
            accel: assets.accel.accel,
            runDir,
          },
          20_000,
        ),
      ).rejects.toMatchObject({ message: expect.stringMatching(/QEMU exited|did not become ready/) });
      expect(qemuPids()).toEqual([]);
    });

    test('no QEMU on PATH: the error names the package', () => {
      const path = process.env.PATH;
      process.env.PATH = '/nonexistent';
      try {
        expect(() => qemuBinary()).toThrow(/qemu-system-x86_64/);
        try {
          qemuBinary();
        } catch (error) {
          expect((error as { hint?: string }).hint).toBe('apt-get install qemu-system-x86');
        }
      } finally {
        process.env.PATH = path;
      }
    });
  },
);
