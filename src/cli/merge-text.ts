import pc from 'picocolors';
import { shardBalance } from '../plan/merge.js';
import { isFailure, type RunResult } from '../report/types.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Summary of a merged result: totals, failed tests, the slowest files, each shard's wall time
 * (and its prediction) and the shard balance.
 */
export function formatMerge(result: RunResult, options: { slowest: number }): string {
  const s = result.summary;
  const shards = result.shards ?? [];
  const lines: string[] = [];
  const queued = shards.some((sh) => sh.job !== undefined);
  const unit = queued ? 'queue job' : 'shard';
  const total = `merged ${shards.length} ${unit}${shards.length === 1 ? '' : 's'}: ${s.files} files, ${s.tests} tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped${s.flaky ? `, ${s.flaky} flaky` : ''}`;
  lines.push(
    s.filesFailed === 0
      ? pc.green(total)
      : pc.red(`${total} (${s.filesFailed} file${s.filesFailed === 1 ? '' : 's'} failed)`),
  );
  for (const f of result.files.filter((x) => isFailure(x.status))) {
    lines.push(`${pc.red('✗')} ${f.file}${f.error ? ` (${f.error})` : ''}`);
    for (const t of f.tests.filter((x) => x.status === 'failed'))
      lines.push(`    ${pc.red('✗')} ${t.name}${t.message ? pc.dim(` — ${t.message.split('\n')[0]}`) : ''}`);
  }
  const slowest = [...result.files].sort((a, b) => b.durationMs - a.durationMs).slice(0, options.slowest);
  if (slowest.length > 0) {
    lines.push('slowest files:');
    for (const f of slowest) lines.push(`  ${secs(f.durationMs).padStart(9)}  ${f.file}`);
  }
  if (shards.length > 0) {
    lines.push(`${unit}s:`);
    for (const sh of shards)
      lines.push(
        `  ${(sh.job ?? `${sh.index}/${shards.length}`).padEnd(7)} ${secs(sh.durationMs).padStart(9)}${sh.predictedMs !== undefined ? pc.dim(` (predicted ${secs(sh.predictedMs)})`) : ''}  ${sh.files} files, ${sh.tests} tests`,
      );
  }
  const balance = shardBalance(result);
  if (balance !== undefined)
    lines.push(`${unit} balance (slowest / mean ${unit} wall time): ${balance.toFixed(3)}`);
  return `${lines.join('\n')}\n`;
}
