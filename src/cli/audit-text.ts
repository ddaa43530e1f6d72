import pc from 'picocolors';
import type { AuditEvent } from '../audit/audit.js';
import type { Conflict } from '../audit/conflicts.js';
import { type AuditReport, type Category, FLAKY, SEVERITY } from '../audit/types.js';

const PAINT: Record<Category, (s: string) => string> = {
  'non-deterministic': pc.yellow,
  'order-dependent': pc.red,
  brittle: pc.magenta,
  'shared-state': pc.cyan,
  'cache-dependent': pc.yellow,
  'stable-fail': pc.red,
  'stable-pass': pc.green,
  skipped: pc.dim,
};

/** Progress lines for `seedfork audit`. */
export function auditProgress(stream: NodeJS.WritableStream): (event: AuditEvent) => void {
  return (event) => {
    switch (event.type) {
      case 'plan':
        stream.write(
          `seedfork audit: ${event.files} test files, ${event.runs.length} runs (${event.runs.join('; ')}), shuffle seed ${event.seed}\n`,
        );
        break;
      case 'notice':
        stream.write(`seedfork: ${event.message}\n`);
        break;
      case 'seed':
        if (event.event.type === 'cached') stream.write(`seed: reusing cached snapshot ${event.event.key}\n`);
        else if (event.event.type === 'building')
          stream.write(`seed: building snapshot ${event.event.key}\n`);
        break;
      case 'run-done': {
        const failed = event.run.results.reduce(
          (n, f) => n + f.tests.filter((t) => t.status === 'failed').length,
          0,
        );
        const tests = event.run.results.reduce((n, f) => n + f.tests.length, 0);
        stream.write(
          `${failed ? pc.red('✗') : pc.green('✓')} ${event.run.label}: ${failed} of ${tests} tests failed ${pc.dim(`(${(event.run.durationMs / 1000).toFixed(1)} s)`)}\n`,
        );
        break;
      }
      case 'search-start':
        stream.write(pc.dim(`  searching the ${event.kind}s of ${event.victim}…\n`));
        break;
      case 'search-done': {
        const s = event.search;
        const named = s.tests.length > 0 ? s.tests.map((t) => `${t.file} > ${t.name}`) : s.files;
        stream.write(
          pc.dim(
            `  ${event.victim}: ${s.status === 'found' ? `${s.kind} ${named.join(', ')}` : s.status} (${s.runs} runs)\n`,
          ),
        );
        break;
      }
      default:
        break;
    }
  };
}

/** The audit's summary, most severe first, with the evidence for each flaky test. */
export function formatAudit(report: AuditReport, paths: { json: string; html: string }): string {
  const lines: string[] = [''];
  for (const t of report.tests.filter((x) => FLAKY.includes(x.category) || x.category === 'stable-fail')) {
    lines.push(`${PAINT[t.category](t.category.padEnd(17))} ${t.file} > ${t.name}`);
    lines.push(pc.dim(`${' '.repeat(18)}${t.reason}`));
    const s = t.search;
    if (s?.status === 'found') {
      const named = s.tests.length > 0 ? s.tests.map((x) => `${x.file} > ${x.name}`) : s.files;
      lines.push(`${' '.repeat(18)}${s.kind === 'polluter' ? 'polluted by' : 'needs'}: ${named.join(', ')}`);
    } else if (s?.status === 'budget') {
      lines.push(
        `${' '.repeat(18)}${s.kind} not narrowed (${s.note}); among: ${(s.candidates ?? []).join(', ')}`,
      );
    } else if (s) {
      lines.push(pc.dim(`${' '.repeat(18)}${s.kind} search ${s.status}${s.note ? `: ${s.note}` : ''}`));
    }
    const failure = t.observations.find((o) => o.status === 'failed' && o.message);
    if (failure) lines.push(pc.dim(`${' '.repeat(18)}e.g. ${failure.run}: ${failure.message}`));
    lines.push(pc.dim(`${' '.repeat(18)}confidence: ${t.confidence.statement} (${t.confidence.runs} runs)`));
  }
  const steady = report.tests.filter((t) => t.category === 'stable-pass');
  if (steady.length > 0) {
    const weakest = steady.reduce((a, b) => (b.confidence.value < a.confidence.value ? b : a));
    lines.push(
      '',
      pc.dim(
        `${steady.length} stable-pass test${steady.length === 1 ? '' : 's'}, the least run ${weakest.file} > ${weakest.name}: ${weakest.confidence.statement}`,
      ),
    );
  }
  const shared = report.tests.filter(
    (t) => t.category === 'shared-state' || t.category === 'order-dependent',
  );
  if (shared.length > 0) {
    const allPassIsolated = shared.every((t) =>
      // a rerun of other files did not run this one: missing there
      t.observations
        .filter((o) => o.kind === 'isolated' && o.status !== 'missing')
        .every((o) => o.status === 'passed'),
    );
    lines.push(
      '',
      `${shared.length} test${shared.length === 1 ? '' : 's'} depend on state shared with other tests (shared-state or order-dependent)${allPassIsolated && report.runs.some((r) => r.kind === 'isolated') ? `; all of them pass isolated, each file alone in a fresh sandbox` : ''}.`,
    );
  }
  lines.push(...conflictLines(report));
  const counts = SEVERITY.filter((c) => report.counts[c] > 0)
    .map((c) => PAINT[c](`${report.counts[c]} ${c}`))
    .join(', ');
  const flaky = report.tests.filter((t) => FLAKY.includes(t.category)).length;
  lines.push(
    '',
    `${report.tests.length} tests: ${counts}`,
    flaky === 0 ? pc.green('nothing flaky') : pc.red(`${flaky} flaky test${flaky === 1 ? '' : 's'}`),
  );
  for (const n of report.notes) lines.push(pc.yellow(`note: ${n}`));
  lines.push(
    pc.dim(
      `${report.runs.length} runs, ${report.forks} sandboxes, ${(report.durationMs / 1000).toFixed(1)} s; replay the shuffle with --seed ${report.seed}`,
    ),
    pc.dim(`JSON: ${paths.json}`),
    pc.dim(`HTML: ${paths.html}`),
  );
  return `${lines.join('\n')}\n`;
}

const VERB: Record<Conflict['kind'], string> = { port: 'bind', file: 'write', table: 'write table' };

/**
 * The audit's conflicts, one entry per shared resource: a pair as "A and B: both bind …", more
 * files as "N files bind …: A, B, C"; conflict partners (never failed) marked, with the fix.
 */
function conflictLines(report: AuditReport): string[] {
  const { conflicts } = report;
  if (conflicts.length === 0) return [];
  const groups = new Map<string, Conflict[]>();
  for (const c of conflicts)
    groups.set(`${c.kind}\t${c.resource}`, [...(groups.get(`${c.kind}\t${c.resource}`) ?? []), c]);
  const lines = [
    '',
    `${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'} (pairs of files using the same resource) on ${groups.size} resource${groups.size === 1 ? '' : 's'}, which a shared host makes them fight over`,
  ];
  const partner = pc.dim('(conflict partner: never failed)');
  for (const group of groups.values()) {
    const first = group[0]!;
    const files = [...new Set(group.flatMap((c) => c.files))].sort();
    const partners = new Set(group.flatMap((c) => c.partners));
    const named = files.map((f) => (partners.has(f) ? `${f} ${partner}` : f));
    const name = first.kind === 'table' ? first.resource.split(' ')[1]! : first.resource;
    const never =
      partners.size === 0
        ? ''
        : partners.size === files.length
          ? pc.dim('; none of them failed (conflict partners)')
          : pc.dim(`; never failed (conflict partners): ${[...partners].sort().join(', ')}`);
    lines.push(
      files.length === 2
        ? `${pc.cyan('conflict'.padEnd(17))} ${named.join(' and ')}: ${first.description}`
        : `${pc.cyan('conflict'.padEnd(17))} ${files.length} files ${VERB[first.kind]} ${name}: ${files.join(', ')}${never}`,
    );
    lines.push(pc.dim(`${' '.repeat(18)}fix: ${first.hint}`));
  }
  return lines;
}
