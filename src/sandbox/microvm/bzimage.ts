import { spawn } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { SeedforkError } from '../../errors/seedfork-error.js';

/** The compressions a bzImage's payload may use, by the magic bytes that start it. */
const COMPRESSIONS: { name: string; magic: number[]; command?: string[] }[] = [
  { name: 'gzip', magic: [0x1f, 0x8b] },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], command: ['lz4', '-dc'] },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], command: ['xz', '-dc', '--single-stream'] },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], command: ['zstd', '-dc'] },
];

/**
 * The uncompressed kernel (an ELF `vmlinux`) inside a bzImage (`vmlinuz`), which QEMU's microvm
 * machine boots directly through its PVH entry point, without firmware or option ROMs. The
 * payload is located from the boot protocol's header: `setup_sects` at 0x1f1, `payload_offset`
 * at 0x248 and `payload_length` at 0x24c, protocol 2.08 or later (Linux,
 * Documentation/arch/x86/boot.rst). gzip is decompressed here; lz4, xz and zstd with Debian's
 * `lz4`, `xz-utils` and `zstd` commands.
 * @throws SeedforkError when `image` is not a bzImage with a payload, or its compression's
 *   command is missing or fails
 */
export async function extractVmlinux(image: Buffer): Promise<Buffer> {
  if (
    image.length < 0x250 ||
    image.toString('latin1', 0x202, 0x206) !== 'HdrS' ||
    image.readUInt16LE(0x206) < 0x208
  )
    throw new SeedforkError('the kernel image is not a bzImage of boot protocol 2.08 or later', {
      hint: 'Point microvm.kernel at a vmlinuz from a Linux kernel package (or at an uncompressed vmlinux).',
    });
  const setupSectors = image[0x1f1] || 4;
  const start = (setupSectors + 1) * 512 + image.readUInt32LE(0x248);
  const payload = image.subarray(start, start + image.readUInt32LE(0x24c));
  const compression = COMPRESSIONS.find((c) => c.magic.every((b, i) => payload[i] === b));
  if (!compression) throw new SeedforkError('the kernel payload uses a compression seedfork does not know');
  if (!compression.command) return gunzipSync(payload);
  return pipeThrough(compression.command, payload, compression.name);
}

/** Whether `image` is already an uncompressed ELF kernel. */
export function isElf(image: Buffer): boolean {
  return image.length > 4 && image.readUInt32BE(0) === 0x7f454c46;
}

function pipeThrough(command: string[], input: Buffer, name: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', (error) =>
      reject(
        new SeedforkError(`cannot decompress the ${name} kernel: ${command[0]} is missing`, {
          hint: `apt-get install ${name === 'xz' ? 'xz-utils' : name}`,
          cause: error,
        }),
      ),
    );
    child.on('close', (code) => {
      // lz4's legacy frames carry no end mark: it may complain of the bytes after the payload
      const data = Buffer.concat(out);
      if (data.length > 0 && isElf(data)) resolve(data);
      else reject(new SeedforkError(`cannot decompress the ${name} kernel (exit ${code}): ${err.trim()}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
