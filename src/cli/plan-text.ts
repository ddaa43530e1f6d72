import pc from 'picocolors';
import type { Plan } from '../plan/plan.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * The plan as a table: one row per shard with its file count, work and predicted wall time,
 * then the balance; with `files`, each shard's files with their predicted cost and its source.
 */
export function formatPlan(plan: Plan, options: { files: boolean; timingsPath: string }): string {
  const costs = plan.shards.flatMap((s) => s.files);
  const count = (source: string) => costs.filter((c) => c.source === source).length;
  const lines = [
    `plan: ${plan.files.length} test file${plan.files.length === 1 ? '' : 's'} into ${plan.shards.length} shard${plan.shards.length === 1 ? '' : 's'} by ${plan.strategy}, ${plan.workers} worker${plan.workers === 1 ? '' : 's'} per shard`,
    pc.dim(
      `costs: ${count('recorded')} recorded in ${options.timingsPath}, ${count('junit')} from JUnit reports, ${count('estimate')} estimated`,
    ),
    '',
    `${'shard'.padEnd(8)}${'files'.padStart(6)}${'work'.padStart(11)}${'predicted'.padStart(12)}`,
  ];
  for (const shard of plan.shards) {
    lines.push(
      `${`${shard.index}/${plan.shards.length}`.padEnd(8)}${String(shard.files.length).padStart(6)}${secs(shard.workMs).padStart(11)}${secs(shard.predictedMs).padStart(12)}`,
    );
    if (options.files)
      for (const c of shard.files)
        lines.push(
          pc.dim(
            `          ${secs(c.ms).padStart(9)}  ${c.file}${c.source === 'recorded' ? '' : ` (${c.source})`}`,
          ),
        );
  }
  lines.push('', `balance (slowest / mean predicted shard time): ${plan.balance.toFixed(3)}`);
  return `${lines.join('\n')}\n`;
}
