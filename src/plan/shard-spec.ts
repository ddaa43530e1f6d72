import { SeedforkError } from '../errors/seedfork-error.js';

/** One CI machine's share of the plan: shard `index` of `total`, both 1-based (`--shard 2/8`). */
export interface ShardSpec {
  index: number;
  total: number;
}

/**
 * Parse `--shard i/N` (1 ≤ i ≤ N), the form Jest, Vitest and Playwright use.
 * @throws SeedforkError naming the bad value and the expected form.
 */
export function parseShard(value: string): ShardSpec {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const hint =
    'Pass --shard i/N with whole numbers 1 ≤ i ≤ N, e.g. --shard 2/8 for the second of eight CI jobs.';
  if (!match) throw new SeedforkError(`--shard ${JSON.stringify(value)} is not of the form i/N`, { hint });
  const index = Number(match[1]);
  const total = Number(match[2]);
  if (total < 1) throw new SeedforkError(`--shard ${value}: the shard count N must be at least 1`, { hint });
  if (index < 1 || index > total)
    throw new SeedforkError(`--shard ${value}: the shard index must be between 1 and ${total}`, { hint });
  return { index, total };
}
