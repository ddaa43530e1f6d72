import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { extractVmlinux } from './bzimage.js';
import { cpioNewc } from './cpio.js';
import { moduleLoadOrder } from './kernel.js';
import { qemuArgs } from './qemu.js';

describe('cpioNewc', () => {
  test('writes newc headers, names and data padded to 4 bytes, and the trailer', () => {
    const archive = cpioNewc([{ path: 'lib' }, { path: 'init', data: Buffer.from('#!'), mode: 0o755 }]);
    const text = archive.toString('latin1');
    const headers = [...text.matchAll(/070701([0-9a-f]{104})/g)].map((m) =>
      m[1]!.match(/.{8}/g)!.map((h) => parseInt(h, 16)),
    );
    expect(headers).toHaveLength(3);
    expect(headers[0]![1]).toBe(0o040755); // a directory
    expect(headers[1]![1]).toBe(0o100755); // a regular file
    expect(headers[1]![6]).toBe(2); // its size
    expect(headers[1]![11]).toBe('init\0'.length);
    expect(text).toContain('init\0');
    expect(text).toContain('TRAILER!!!\0');
    expect(archive.length % 4).toBe(0);
    expect(text.indexOf('#!') % 4).toBe(0);
  });
});

describe('extractVmlinux', () => {
  /** A minimal bzImage: boot protocol header and a gzip payload. */
  const bzImage = (payload: Buffer) => {
    const setupSectors = 1;
    const header = Buffer.alloc((setupSectors + 1) * 512);
    header[0x1f1] = setupSectors;
    header.write('HdrS', 0x202, 'latin1');
    header.writeUInt16LE(0x20f, 0x206);
    header.writeUInt32LE(16, 0x248); // payload_offset, from the protected-mode code
    header.writeUInt32LE(payload.length, 0x24c);
    return Buffer.concat([header, Buffer.alloc(16), payload, Buffer.alloc(64)]);
  };

  test('finds the payload from the boot protocol header and decompresses it', async () => {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(100, 7)]);
    expect(await extractVmlinux(bzImage(gzipSync(elf)))).toEqual(elf);
  });

  test('refuses what is not a bzImage, saying what to use', async () => {
    await expect(extractVmlinux(Buffer.alloc(4096))).rejects.toMatchObject({
      message: expect.stringMatching(/not a bzImage/),
      hint: expect.stringMatching(/microvm.kernel/),
    });
  });
});

describe('moduleLoadOrder', () => {
  test('puts each module after those its modinfo depends on, and leaves out built-in ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seedfork-modules-'));
    try {
      mkdirSync(join(dir, 'kernel/drivers'), { recursive: true });
      const ko = (name: string, depends: string) =>
        writeFileSync(
          join(dir, 'kernel/drivers', `${name}.ko`),
          `\x7fELF...license=GPL\0depends=${depends}\0name=${name}\0`,
        );
      ko('virtio_ring', '');
      ko('virtio', 'virtio_ring');
      ko('virtio_blk', 'virtio,virtio_ring');
      ko('virtio_console', 'virtio,virtio_ring');
      writeFileSync(join(dir, 'modules.builtin'), 'kernel/fs/overlayfs/overlay.ko\n');
      expect(moduleLoadOrder(dir, ['virtio_blk', 'virtio_console', 'overlay']).map((m) => m.name)).toEqual([
        'virtio_ring',
        'virtio',
        'virtio_blk',
        'virtio_console',
      ]);
      expect(() => moduleLoadOrder(dir, ['virtio_net'])).toThrow(/no module virtio_net/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('qemuArgs', () => {
  const spec = {
    vmlinux: '/k/vmlinux',
    initramfs: '/k/initramfs',
    disks: [{ id: 'root', file: '/d/disk.qcow2', format: 'qcow2' as const }],
    append: ['seedfork.root=/dev/vda'],
    memoryMiB: 512,
    cpus: 1,
    accel: 'tcg' as const,
    runDir: '/run/g',
    socketDir: '/tmp/s',
  };

  test('a microvm with virtio-mmio devices, no network and no firmware ROMs', () => {
    const args = qemuArgs(spec).join(' ');
    expect(args).toMatch(/-M microvm,x-option-roms=off,acpi=on,rtc=on/);
    expect(args).toMatch(/-accel tcg/);
    expect(args).toMatch(/virtserialport,chardev=agent,name=seedfork.agent/);
    expect(args).toMatch(/-drive id=root,file=\/d\/disk.qcow2,format=qcow2/);
    expect(args).toMatch(/virtio-blk-device,drive=root/);
    expect(args).not.toMatch(/-netdev|-nic/);
    expect(args).toMatch(/tsc_early_khz=\d+/);
  });

  test('a template shares its memory file; a clone maps it privately and waits for its state', () => {
    const template = qemuArgs({ ...spec, memoryFile: { path: '/s/memory', share: true } }).join(' ');
    expect(template).toMatch(/memory-backend-file,id=mem,size=512M,mem-path=\/s\/memory,share=on/);
    expect(template).toMatch(/memory-backend=mem/);
    const clone = qemuArgs({ ...spec, memoryFile: { path: '/s/memory', share: false }, incoming: true }).join(
      ' ',
    );
    expect(clone).toMatch(/share=off/);
    expect(clone).toMatch(/-incoming defer/);
  });
});
