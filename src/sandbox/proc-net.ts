import { readFileSync } from 'node:fs';

/** A listening TCP socket: its local address (IPv4 dotted, or IPv6 `::`, `::1`, else kernel hex) and port. */
export interface ListeningSocket {
  address: string;
  port: number;
}

/** Decode a local address of /proc/net/tcp (little-endian hex IPv4) or tcp6 (32 hex digits). */
function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    return [3, 2, 1, 0].map((i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  }
  if (/^0+$/.test(hex)) return '::';
  if (hex === '00000000000000000000000001000000') return '::1';
  return hex;
}

/**
 * The listening sockets in the text of /proc/net/tcp or /proc/net/tcp6: rows whose state
 * (4th column) is 0A (TCP_LISTEN), local address `HEXADDR:HEXPORT`. Format: proc(5),
 * https://man7.org/linux/man-pages/man5/proc_net.5.html (the header row is skipped).
 */
export function parseListeningSockets(text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== '0A' || !fields[1]) continue;
    const [hexAddress, hexPort] = fields[1].split(':') as [string, string];
    out.push({ address: decodeAddress(hexAddress), port: Number.parseInt(hexPort, 16) });
  }
  return out;
}

/**
 * The listening TCP sockets of a network namespace, from `tcp` and `tcp6` in its /proc net
 * directory (`/proc/net` for the caller's, `/proc/<pid>/net` for that process's). A file that
 * cannot be read (no IPv6, the process gone) counts as empty.
 */
export function readListeningSockets(netDir: string): ListeningSocket[] {
  return ['tcp', 'tcp6'].flatMap((file) => {
    try {
      return parseListeningSockets(readFileSync(`${netDir}/${file}`, 'utf8'));
    } catch {
      return [];
    }
  });
}

/** A process's command line from /proc/<pid>/cmdline, `[comm]` when it has none, `?` when gone. */
export function commandLine(pid: number): string {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmdline || `[${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}]`;
  } catch {
    return '?';
  }
}
