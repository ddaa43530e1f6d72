import type { Leftovers } from './leftovers.js';
import { type AuditReport, type Category, type ClassifiedTest, FLAKY, SEVERITY } from './types.js';

const esc = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const LABEL: Record<Category, string> = {
  'non-deterministic': 'non-deterministic (NOD)',
  'order-dependent': 'order-dependent (OD)',
  brittle: 'brittle',
  'shared-state': 'shared-state',
  'cache-dependent': 'cache-dependent',
  'stable-fail': 'stable fail',
  'stable-pass': 'stable pass',
  skipped: 'skipped',
};

const COLOR: Record<Category, string> = {
  'non-deterministic': '#b4530a',
  'order-dependent': '#b91c1c',
  brittle: '#9d174d',
  'shared-state': '#6d28d9',
  'cache-dependent': '#b45309',
  'stable-fail': '#374151',
  'stable-pass': '#15803d',
  skipped: '#6b7280',
};

function culprits(t: ClassifiedTest): string {
  const s = t.search;
  if (!s) return '';
  const what = s.kind === 'polluter' ? 'polluter' : 'state-setter';
  if (s.status === 'found') {
    const named = s.tests.length > 0 ? s.tests.map((x) => `${x.file} › ${x.name}`) : s.files;
    return `<div class="culprit">${what}${named.length > 1 ? 's' : ''}: ${named.map((n) => `<code>${esc(n)}</code>`).join(', ')}</div><div class="dim">${s.runs} sandboxed runs, from ${esc(s.from ?? '')}${s.note ? `; ${esc(s.note)}` : ''}</div>`;
  }
  if (s.status === 'budget')
    return `<div class="culprit">${what} not narrowed: among ${(s.candidates ?? []).map((c) => `<code>${esc(c)}</code>`).join(', ')}</div><div class="dim">${esc(s.note ?? '')}</div>`;
  return `<div class="dim">${what} search: ${esc(s.status)}${s.note ? ` (${esc(s.note)})` : ''}</div>`;
}

function evidence(t: ClassifiedTest, runs: AuditReport['runs']): string {
  return runs
    .map((r) => {
      const o = t.observations.find((x) => x.run === r.label);
      const status = o?.status ?? 'missing';
      const mark = status === 'passed' ? '✓' : status === 'failed' ? '✗' : '–';
      const title = `${r.label}: ${status}${o?.message ? ` — ${o.message}` : ''}`;
      return `<td class="cell ${status}" title="${esc(title)}">${mark}</td>`;
    })
    .join('');
}

function leftoverRows(list: Leftovers[]): string {
  return list
    .map((l) => {
      const parts: string[] = [];
      const files = (label: string, paths: string[]) =>
        paths.length
          ? `<div><b>${label}</b> ${paths.map((p) => `<code>${esc(p)}</code>`).join(' ')}</div>`
          : '';
      parts.push(
        files('created', l.files.created),
        files('changed', l.files.changed),
        files('deleted', l.files.deleted),
      );
      if (l.processes.length)
        parts.push(
          `<div><b>processes</b> ${l.processes.map((p) => `<code>${esc(`${p.pid} ${p.command}`)}</code>`).join(' ')}</div>`,
        );
      if (l.ports.length)
        parts.push(
          `<div><b>listening</b> ${l.ports.map((p) => `<code>${esc(`${p.address}:${p.port}`)}</code>`).join(' ')}</div>`,
        );
      if (l.tables.length)
        parts.push(
          `<div><b>rows</b> ${l.tables.map((t) => `<code>${esc(`${t.service}: ${t.table} +${t.inserted} ~${t.updated} -${t.deleted}`)}</code>`).join(' ')}</div>`,
        );
      if (l.notes.length) parts.push(`<div class="dim">${esc(l.notes.join('; '))}</div>`);
      const body = parts.join('') || '<span class="dim">nothing</span>';
      return `<tr><td><code>${esc(l.file)}</code></td><td>${body}</td></tr>`;
    })
    .join('\n');
}

/**
 * The audit as one self-contained HTML page (inline CSS, no scripts, no network): the counts,
 * the classification table with each test's outcome in every run and its culprits, the runs,
 * the conflicts between files, the leftovers per file, and what was not concluded.
 */
export function renderHtml(report: AuditReport): string {
  const flaky = report.tests.filter((t) => FLAKY.includes(t.category)).length;
  const counts = SEVERITY.filter((c) => report.counts[c] > 0)
    .map((c) => `<span class="badge" style="background:${COLOR[c]}">${report.counts[c]} ${LABEL[c]}</span>`)
    .join(' ');
  const head = report.runs
    .map((r) => `<th class="run" title="${esc(r.label)}">${esc(r.label)}</th>`)
    .join('');
  const rows = report.tests
    .map(
      (t) =>
        `<tr class="test ${t.category}"><td><span class="badge" style="background:${COLOR[t.category]}">${LABEL[t.category]}</span></td><td><code>${esc(t.file)}</code><br>${esc(t.name)}</td><td>${esc(t.reason)}${culprits(t)}<div class="dim">confidence: ${esc(t.confidence.statement)}</div></td>${evidence(t, report.runs)}</tr>`,
    )
    .join('\n');
  const runs = report.runs
    .map(
      (r) =>
        `<tr><td>${esc(r.label)}</td><td>${r.workers}</td><td>${(r.durationMs / 1000).toFixed(1)} s</td><td>${r.failed} of ${r.tests}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>seedfork audit: ${flaky} flaky of ${report.tests.length} tests</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #111827; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
th.run { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: 400; font-size: 12px; }
td.cell { text-align: center; width: 1.6em; font-weight: 700; }
td.passed { color: #15803d; background: #f0fdf4; } td.failed { color: #b91c1c; background: #fef2f2; }
td.missing, td.skipped { color: #9ca3af; }
.badge { color: #fff; border-radius: 4px; padding: 1px 6px; font-size: 12px; white-space: nowrap; }
.culprit { margin-top: 4px; font-weight: 600; } .dim { color: #6b7280; font-size: 12px; }
code { font: 12px ui-monospace, monospace; background: #f3f4f6; padding: 0 3px; border-radius: 3px; }
</style>
</head>
<body>
<h1>seedfork audit: ${flaky === 0 ? 'nothing flaky' : `${flaky} flaky test${flaky === 1 ? '' : 's'}`} of ${report.tests.length}</h1>
<p>${counts}</p>
<p class="dim">${report.runs.length} runs, ${report.forks} sandboxes, ${(report.durationMs / 1000).toFixed(1)} s, started ${esc(report.startedAt)}; shuffle seed ${report.seed}${report.complete ? '' : '; <b>incomplete</b>: see the notes'}</p>
<h2>Tests, most severe first</h2>
<table id="tests">
<thead><tr><th>class</th><th>test</th><th>why, and culprits</th>${head}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
<h2>Runs</h2>
<table id="runs"><thead><tr><th>run</th><th>workers</th><th>time</th><th>failed tests</th></tr></thead>
<tbody>
${runs}
</tbody></table>
<h2>Conflicts: files that use the same resource</h2>
<table id="conflicts"><thead><tr><th>files</th><th>resource</th><th>fix</th></tr></thead>
<tbody>
${
  report.conflicts
    .map(
      (c) =>
        `<tr><td>${c.files.map((f) => `<code>${esc(f)}</code>${c.partners.includes(f) ? ' <span class="dim">conflict partner: never failed</span>' : ''}`).join('<br>')}</td><td>${esc(c.description)}</td><td class="dim">${esc(c.hint)}</td></tr>`,
    )
    .join('\n') || '<tr><td colspan="3" class="dim">none found</td></tr>'
}
</tbody></table>
<h2>Leftovers: what each file left in its sandbox</h2>
<table id="leftovers"><thead><tr><th>file</th><th>left behind</th></tr></thead>
<tbody>
${leftoverRows(report.leftovers) || '<tr><td colspan="2" class="dim">not collected (no isolated run)</td></tr>'}
</tbody></table>
${report.notes.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body>
</html>
`;
}
