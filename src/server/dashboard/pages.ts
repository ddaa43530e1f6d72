import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Cluster } from '../../history/correlate.js';
import type { QuarantineEntry } from '../../history/quarantine.js';
import type { Overview, TestDetail } from './data.js';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The filters as the pages show and pass them on: the raw query values. */
export interface FilterValues {
  since: string;
  service?: string;
  branch?: string;
}

/** `?since=…&service=…&branch=…` for links that keep the filters. */
export function filterQuery(filters: FilterValues): string {
  const params = new URLSearchParams({ since: filters.since });
  if (filters.service) params.set('service', filters.service);
  if (filters.branch) params.set('branch', filters.branch);
  return `?${params}`;
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header a.here{color:#fff;font-weight:600}
main{padding:16px 24px;max-width:1200px}
h1{font-size:20px;margin:8px 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
form.filters{display:flex;gap:12px;align-items:end;margin:0 0 12px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#5a6472}
input,select,button{font:inherit;padding:3px 6px}
.flaky{color:#a15c00}.broken{color:#b3261e}.fixed{color:#2e6b30}.healthy{color:#5a6472}
.strip{display:flex;flex-wrap:wrap;gap:2px;margin:6px 0}
.strip span{width:12px;height:22px;border-radius:2px;display:inline-block}
.strip .passed{background:#3c9a46}.strip .failed{background:#d23b2f}.strip .flaky{background:#f0a800}.strip .skipped{background:#c3c8cf}
pre{white-space:pre-wrap;background:#fff;border:1px solid #e3e6ea;padding:8px;margin:4px 0;max-height:14em;overflow:auto}
.note{color:#5a6472;font-size:12px}.error{color:#b3261e}
`;

/** The page frame: navigation, the filter form, `body`. */
function layout(title: string, here: string, filters: FilterValues, body: Html, filterForm = true): Html {
  const q = filterQuery(filters);
  const nav = (path: string, label: string) =>
    html`<a href="${path}${q}" class="${here === path ? 'here' : ''}">${label}</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · seedfork</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="stylesheet" href="/assets/uPlot.min.css"><style>${raw(STYLE)}</style></head>
<body><header><strong>seedfork history</strong>${nav('/', 'Overview')}${nav('/clusters', 'Clusters')}${nav('/quarantine', 'Quarantine')}
<a href="/api/v1/flaky${q}">JSON</a><a href="/api/v1/flaky.csv${q}">CSV</a></header>
<main>${
    filterForm
      ? html`<form class="filters" method="get">
<label>since<input name="since" value="${filters.since}" size="6"></label>
<label>service<input name="service" value="${filters.service ?? ''}" size="12"></label>
<label>branch<input name="branch" value="${filters.branch ?? ''}" size="12"></label>
<button>Filter</button></form>`
      : ''
  }${body}</main></body></html>`;
}

const pct = (rate: number) => `${(rate * 100).toFixed(1)}%`;
const when = (ms: number | undefined) =>
  ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

/**
 * The overview: services ranked by flaky tests, the daily flake-rate trend (uPlot, from the
 * JSON in `#trend-data`; the chart is `window.seedforkCharts.trend`), and the flaky and broken
 * tests with links to their pages.
 */
export function overviewPage(data: Overview, filters: FilterValues): Html {
  const q = filterQuery(filters);
  const body = html`<h1>Overview</h1>
<table id="services"><thead><tr><th>service</th><th>tests</th><th>flaky</th><th>broken</th><th>fixed</th><th>quarantined</th><th>mean flake rate</th></tr></thead><tbody>
${data.services.map(
  (
    s,
  ) => html`<tr data-service="${s.service}"><td><a href="/${filterQuery({ ...filters, service: s.service })}">${s.service}</a></td>
<td class="n">${s.tests}</td><td class="n flaky">${s.flaky}</td><td class="n broken">${s.broken}</td><td class="n">${s.fixed}</td><td class="n">${s.quarantined}</td><td class="n">${pct(s.flakeRate)}</td></tr>`,
)}</tbody></table>
${data.services.length === 0 ? html`<p class="note">No runs in this window. Ingest reports with <code>seedfork ingest</code>.</p>` : ''}
<h2>Daily flake rate</h2>
<p class="note">Per service and UTC day: the share of results that failed or needed a retry, tests broken now left out (a regression since fixed shows as a bump while it lasted).</p>
<div id="trend"></div>
<script type="application/json" id="trend-data">${raw(JSON.stringify(data.trend).replace(/</g, '\\u003c'))}</script>
<script src="/assets/uPlot.iife.min.js"></script><script src="/assets/dashboard.js"></script>
<h2>Flaky and broken tests</h2>
<table id="tests"><thead><tr><th>status</th><th>service</th><th>test</th><th>runs</th><th>failures</th><th>flake rate</th><th>last failure</th><th>audit</th></tr></thead><tbody>
${data.tests.map(
  (
    t,
  ) => html`<tr><td class="${t.status}">${t.status}</td><td>${t.service}</td><td><a href="/tests/${t.id}${q}">${t.file} › ${t.name}</a></td>
<td class="n">${t.runs}</td><td class="n">${t.failures}</td><td class="n">${pct(t.flakeRate)}</td><td>${when(t.lastFailureAt)}</td><td>${t.audit?.category ?? ''}</td></tr>`,
)}</tbody></table>`;
  return layout('Overview', '/', filters, body);
}

/** A test's page: verdict, history strip (one block per run, oldest first), grouped failures,
 * audit verdicts. */
export function testPage(test: TestDetail, filters: FilterValues): Html {
  const v = test.verdict;
  const body = html`<h1>${test.file} › ${test.name}</h1>
<p>${test.service} · <span class="${v.status}" id="verdict">${v.status}</span> · ${v.runs} runs, ${v.failures} failures, flake rate ${pct(v.flakeRate)}
${v.brokenSince ? html` · broken since build ${v.brokenSince.build}${v.brokenSince.commit ? ` (${v.brokenSince.commit})` : ''}` : ''}
${test.quarantine ? html` · quarantined: ${test.quarantine}` : ''}</p>
<h2>History</h2>
<div class="strip" id="strip">${test.runs.map(
    (r) =>
      html`<span class="${r.status === 'passed' && r.retryFailures > 0 ? 'flaky' : r.status}" data-status="${r.status}" title="${when(r.at)} build ${r.build} #${r.attempt}${r.commit ? ` ${r.commit}` : ''}${r.branch ? ` on ${r.branch}` : ''}: ${r.status}"></span>`,
  )}</div>
<p class="note">One block per run, oldest first: green passed, red failed, amber passed after a failed attempt.</p>
<h2>Failures</h2>
${
  test.failures.length === 0
    ? html`<p class="note">No failure in this window.</p>`
    : html`<table id="failures"><thead><tr><th>times</th><th>message</th><th>last</th></tr></thead><tbody>
${test.failures.map((f) => html`<tr><td class="n">${f.count}</td><td><pre>${f.example}</pre></td><td>${when(f.lastAt)}</td></tr>`)}</tbody></table>`
}
<h2>Audits</h2>
${
  test.audits.length === 0
    ? html`<p class="note">No audit recorded (<code>seedfork audit</code> records its verdicts when the history is configured).</p>`
    : html`<table id="audits"><thead><tr><th>when</th><th>class</th><th>reason</th><th>culprits</th></tr></thead><tbody>
${test.audits.map((a) => html`<tr><td>${a.at.slice(0, 16).replace('T', ' ')}</td><td>${a.category}</td><td>${a.reason}</td><td>${a.culprits.join(', ')}</td></tr>`)}</tbody></table>`
}`;
  return layout(test.name, '', filters, body);
}

/** The correlation clusters. */
export function clustersPage(
  result: { clusters: Cluster[]; threshold: number },
  filters: FilterValues,
): Html {
  const body = html`<h1>Tests that fail together</h1>
<p class="note">Clusters of tests whose failures fall in the same time windows (agglomerative, average linkage on the Jaccard distance, cut at ${result.threshold.toFixed(2)}; see <code>seedfork correlate</code>).</p>
${
  result.clusters.length === 0
    ? html`<p class="note">No cluster in this window.</p>`
    : result.clusters.map(
        (c, i) => html`<section class="cluster"><h2>Cluster ${i + 1}: ${c.services.join(', ')}</h2>
<p>${c.tests.length} tests · support ${c.support} windows · cohesion ${c.cohesion.toFixed(2)} · ${c.window.from.slice(0, 16)} to ${c.window.to.slice(0, 16)}${c.window.timeOfDay ? html` · failures at ${c.window.timeOfDay} UTC` : ''}${c.sharedDependency ? html` · shared dependency <strong>${c.sharedDependency.name}</strong> (${c.sharedDependency.services} services)` : ''}</p>
<table><tbody>${c.tests.map((t) => html`<tr><td>${t.service}</td><td>${t.name}</td></tr>`)}</tbody></table></section>`,
      )
}`;
  return layout('Clusters', '/clusters', filters, body);
}

/** The quarantine list, with the forms that add and remove entries, and the retention form
 * (an admin token in each). */
export function quarantinePage(
  entries: QuarantineEntry[],
  filters: FilterValues,
  message?: { error?: string; done?: string },
): Html {
  const body = html`<h1>Quarantine</h1>
${message?.error ? html`<p class="error" id="message">${message.error}</p>` : ''}${message?.done ? html`<p id="message">${message.done}</p>` : ''}
<table id="quarantine"><thead><tr><th>#</th><th>service</th><th>pattern</th><th>reason</th><th>owner</th><th>source</th><th>expires</th><th></th></tr></thead><tbody>
${entries.map(
  (
    e,
  ) => html`<tr data-id="${e.id}"><td>${e.id}</td><td>${e.service ?? 'all'}</td><td>${e.pattern}</td><td>${e.reason}</td><td>${e.owner ?? ''}</td><td>${e.source}</td><td>${when(e.expiresAt)}</td>
<td><form method="post" action="/quarantine/${e.id}/remove"><input type="password" name="token" placeholder="admin token" required><button>Remove</button></form></td></tr>`,
)}</tbody></table>
${entries.length === 0 ? html`<p class="note">Nothing is quarantined.</p>` : ''}
<h2>Add</h2>
<form method="post" action="/quarantine" id="add">
<p><label>test or glob <input name="pattern" required size="40"></label> <label>service <input name="service" size="12"></label></p>
<p><label>reason <input name="reason" required size="40"></label> <label>owner <input name="owner" size="12"></label> <label>expires <input name="expires" placeholder="14d" size="5"></label></p>
<p><label>admin token <input type="password" name="token" required size="40"></label> <button>Quarantine</button></p></form>
<h2>Retention</h2>
<form method="post" action="/retention" id="retention">
<p><label>drop runs older than <input name="days" required size="4" inputmode="numeric"> days</label>
<label>admin token <input type="password" name="token" required size="40"></label> <button>Drop</button></p></form>
<p class="note">By whole UTC days, with their results, as <code>seedfork prune --older-than N</code> does.</p>`;
  return layout('Quarantine', '/quarantine', filters, body, false);
}

/** A page that says why a request was refused (401, 403, 404). */
export function messagePage(title: string, text: string, filters: FilterValues): Html {
  return layout(title, '', filters, html`<h1>${title}</h1><p class="error" id="message">${text}</p>`, false);
}

/** The dashboard's own script: draws the trend with uPlot from the page's JSON. */
export const DASHBOARD_JS = `(function () {
  var el = document.getElementById('trend-data');
  if (!el) return;
  var trend = JSON.parse(el.textContent);
  var colors = ['#1f6feb', '#d23b2f', '#3c9a46', '#a15c00', '#8250df', '#0a7f88', '#bf3989', '#57606a'];
  var series = [{}].concat(trend.series.map(function (s, i) {
    return { label: s.service, stroke: colors[i % colors.length], width: 2, spanGaps: false,
      value: function (u, v) { return v == null ? '-' : (v * 100).toFixed(1) + '%'; } };
  }));
  var data = [trend.days].concat(trend.series.map(function (s) { return s.rates; }));
  var chart = new uPlot({ width: Math.min(1150, window.innerWidth - 48), height: 280, series: series,
    axes: [{}, { values: function (u, ticks) { return ticks.map(function (t) { return (t * 100).toFixed(0) + '%'; }); } }] },
    data, document.getElementById('trend'));
  window.seedforkCharts = { trend: chart };
})();
`;

/** The sign-in form: a token kept in a cookie for reading from another machine. */
export function loginPage(error?: string) {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · seedfork</title></head>
<body style="font:14px system-ui;margin:40px"><h1>seedfork history</h1>
${error ? html`<p style="color:#b3261e" id="message">${error}</p>` : ''}
<form method="post" action="/login"><label>token <input type="password" name="token" size="50" required></label> <button>Sign in</button></form>
<p>A token from <code>seedfork token create</code> (kept in a cookie on this browser).</p></body></html>`;
}
