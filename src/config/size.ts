import { SeedforkError } from '../errors/seedfork-error.js';

const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

/**
 * Parse a size such as `512MiB`, `2G` or `1048576` into bytes (K/M/G are binary, KB/MB/GB decimal).
 * @throws SeedforkError when `value` is not a size.
 */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const factor = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  if (!m || factor === undefined)
    throw new SeedforkError(`not a size: ${value}`, {
      hint: 'Write a size as a number of bytes or like 512MiB, 2GiB, 1GB.',
    });
  return Math.round(Number(m[1]) * factor);
}

/**
 * Bytes as a short binary size: exact where the unit divides them (`512 MiB`, `4 GiB`, `100 B`),
 * else to one decimal in the largest unit under them (`240.3 MiB`).
 */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let exact = bytes;
  let unit = 0;
  while (exact >= 1024 && unit < units.length - 1 && exact % 1024 === 0) {
    exact /= 1024;
    unit++;
  }
  if (exact < 1024 || unit === units.length - 1) return `${exact} ${units[unit]}`;
  let value = bytes;
  unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
