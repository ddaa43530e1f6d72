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
