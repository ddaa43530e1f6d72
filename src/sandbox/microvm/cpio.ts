/** One entry of a {@link cpioNewc} archive. */
export interface CpioEntry {
  /** Path inside the archive, without a leading `/`. */
  path: string;
  /** File contents; omit for a directory. */
  data?: Buffer;
  /** Permission bits (default 0o755 for directories and 0o644 for files). */
  mode?: number;
}

/**
 * An uncompressed cpio archive in the "newc" format, which the kernel unpacks as an initramfs
 * (Linux, Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte
 * ASCII header of 13 hex fields, the NUL-terminated name and the data, each padded to 4 bytes,
 * ending with the entry `TRAILER!!!`. Everything is owned by root.
 */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
    const pad = (4 - (size % 4)) % 4;
    if (pad) {
      parts.push(Buffer.alloc(pad));
      size += pad;
    }
  };
  let inode = 1;
  const entry = (path: string, data: Buffer, mode: number) => {
    const name = Buffer.from(`${path}\0`);
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const fields = [inode++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    push(
      Buffer.concat([
        Buffer.from(`070701${fields.map((v) => v.toString(16).padStart(8, '0')).join('')}`),
        name,
      ]),
    );
    if (data.length) push(data);
  };
  for (const e of entries) {
    if (e.data) entry(e.path, e.data, 0o100000 | (e.mode ?? 0o644));
    else entry(e.path, Buffer.alloc(0), 0o040000 | (e.mode ?? 0o755));
  }
  entry('TRAILER!!!', Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}
