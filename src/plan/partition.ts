import { statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Split files into at most `groups` groups of similar total size, for `per: 'shard'` (one
 * sandbox per worker). Greedy longest-processing-time-first (Graham, "Bounds on
 * multiprocessing timing anomalies", 1969) with file size in bytes standing in for run time
 * until recorded timings exist. Deterministic; empty groups are dropped.
 */
export function partitionBySize(root: string, files: string[], groups: number): string[][] {
  const sized = files
    .map((file) => ({ file, size: statSync(join(root, file)).size }))
    .sort((a, b) => b.size - a.size || a.file.localeCompare(b.file));
  const bins = Array.from({ length: Math.max(1, groups) }, () => ({ total: 0, files: [] as string[] }));
  for (const { file, size } of sized) {
    const bin = bins.reduce((min, b) => (b.total < min.total ? b : min));
    bin.files.push(file);
    bin.total += size;
  }
  return bins.filter((b) => b.files.length > 0).map((b) => b.files.sort());
}
