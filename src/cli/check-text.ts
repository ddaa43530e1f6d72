import pc from 'picocolors';
import type { CheckReport } from '../audit/check.js';

/** `seedfork check`'s answer: each item ✓ or ✗ with its evidence, the shard count it recommends. */
export function formatCheck(report: CheckReport, source: string): string {
  const lines: string[] = [pc.dim(`evidence: ${source}`), ''];
  for (const item of report.items) {
    const mark =
      item.status === 'pass' ? pc.green('✓') : item.status === 'fail' ? pc.red('✗') : pc.yellow('?');
    const harmless =
      item.status === 'fail' && item.harmlessUnderIsolation
        ? pc.cyan(' (harmless under seedfork run: each file gets a sandbox of its own)')
        : '';
    lines.push(`${mark} ${item.title}${harmless}`);
    for (const e of item.evidence) lines.push(pc.dim(`    ${e}`));
  }
  const r = report.recommendedShards;
  lines.push(
    '',
    r
      ? `recommended shards: ${r.shards} (longest shard ${(r.longestMs / 1000).toFixed(1)} s, about ${(r.longestMs / r.setupMs).toFixed(1)}x the ${(r.setupMs / 1000).toFixed(0)} s per-shard setup)`
      : pc.dim('no shard count recommended: no timings recorded yet (seedfork run records them)'),
  );
  const failing = report.items.filter((i) => i.status !== 'pass');
  lines.push(
    report.ok
      ? pc.green('every item holds: the suite is safe to run in parallel as written')
      : pc.red(
          `${failing.length} item${failing.length === 1 ? '' : 's'} do${failing.length === 1 ? 'es' : ''} not hold for the suite as written${failing.every((i) => i.harmlessUnderIsolation) ? '; seedfork run makes every one of them harmless' : ''}`,
        ),
  );
  return `${lines.join('\n')}\n`;
}
