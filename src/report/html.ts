/**
 * The HTML report: one self-contained page (inline CSS, JS and SVG; a Content-Security-Policy
 * that forbids every fetch) with the plan's summary, savings charts and a sortable, filterable
 * table of its actions. Everything taken from the catalog is escaped; paths are shown as
 * `displayPath` renders them (U+FFFD for invalid UTF-8, control characters as \n, \xNN).
 */
import type { DB } from '../catalog/open.js';
import { iterateTopActions } from '../catalog/plan-report.js';
import { formatBytes, formatCount, formatTime } from '../format.js';
import { planFilters } from '../catalog/plan-types.js';
import { describeFilters } from '../conductor/filters.js';
import { displayPath } from '../paths.js';
import type { Output } from './output.js';
import { reportRowMapper, type ActionReportRow, type PlanReport } from './plan-report.js';

/** Rows embedded in the page at most; the page says when a plan has more. */
export const HTML_MAX_ROWS = 50_000;

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text safe in HTML content and in quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Free text (a plan name, a reason) for display: control characters escaped, then HTML-escaped. */
function text(s: string): string {
  return escapeHtml(displayPath(Buffer.from(s, 'utf8')));
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

interface Bar {
  readonly label: string;
  readonly detail: string;
  readonly value: number;
}

/** A horizontal bar chart as inline SVG (no namespace URL needed inside HTML). */
export function barChart(id: string, title: string, bars: readonly Bar[]): string {
  const width = 920;
  const labelW = 330;
  const valueW = 150;
  const rowH = 26;
  const top = 8;
  const maxBar = width - labelW - valueW - 16;
  if (bars.length === 0 || bars.every((b) => b.value <= 0)) {
    return `<svg id="${id}" class="chart empty" width="${width}" height="40" viewBox="0 0 ${width} 40" role="img" aria-label="${escapeHtml(title)}"><text x="8" y="25" class="note">Nothing to save.</text></svg>`;
  }
  const max = Math.max(...bars.map((b) => b.value));
  const height = top * 2 + bars.length * rowH;
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = b.value > 0 ? Math.max(1, Math.round((b.value / max) * maxBar)) : 0;
    const tip = escapeHtml(
      `${b.label} — ${b.detail}: ${formatBytes(b.value)} (${formatCount(b.value)} bytes)`,
    );
    return (
      `<g class="bar-row" data-value="${b.value}">` +
      `<title>${tip}</title>` +
      `<text class="label" x="${labelW - 8}" y="${y + 17}" text-anchor="end">${escapeHtml(shorten(b.label, 44))}</text>` +
      `<rect class="bar" x="${labelW}" y="${y + 4}" width="${w}" height="${rowH - 8}" rx="3"></rect>` +
      `<text class="value" x="${labelW + w + 6}" y="${y + 17}">${escapeHtml(formatBytes(b.value))}</text>` +
      `</g>`
    );
  });
  return `<svg id="${id}" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">${rows.join('')}</svg>`;
}

const CSS = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bar: #2f6feb; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); margin: 0; padding: 24px 32px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.meta, .note { color: var(--muted); fill: var(--muted); }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px 24px; margin: 16px 0; }
.facts div { border-left: 3px solid var(--line); padding-left: 10px; }
.facts dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.facts dd { margin: 2px 0 0; font-size: 16px; font-weight: 600; }
/* A path (or a list holding paths) may break anywhere, and only where it must; a number never. */
.path { overflow-wrap: anywhere; }
.num { white-space: nowrap; }
.counts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; }
.counts table td, .counts table th { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; }
.counts table td.num, .counts table th.num { text-align: right; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg .bar { fill: var(--bar); }
svg .bar-row:hover .bar { fill: #1a4fb8; }
svg text { font-size: 12px; fill: var(--fg); }
svg text.value { fill: var(--muted); }
.notice { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; border-radius: 6px; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 10px 0; }
.controls input { min-width: 320px; padding: 5px 8px; font: inherit; }
.controls select { padding: 4px; font: inherit; }
#actions-table { width: 100%; font-size: 13px; }
#actions-table th { position: sticky; top: 0; background: var(--head); cursor: pointer; user-select: none; white-space: nowrap; border-bottom: 2px solid var(--line); padding: 6px 8px; text-align: left; }
#actions-table th[aria-sort="ascending"]::after { content: " ▲"; }
#actions-table th[aria-sort="descending"]::after { content: " ▼"; }
#actions-table td { border-bottom: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
#actions-table td.path { overflow-wrap: break-word; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
#actions-table td.hash { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
tr.HARDLINK td.type, tr.REFLINK td.type { color: #1a7f37; font-weight: 600; }
tr.SKIP td.type { color: #9a6700; font-weight: 600; }
tr.NOOP td.type { color: var(--muted); }
tr.failed td.status { color: #d1242f; font-weight: 600; }
`;

/**
 * The action table, inline. The rows travel as JSON in the page (one array per action, in
 * COLUMNS order) and the table shows one page of the sorted, filtered list at a time: a browser
 * lays out a few hundred rows at once, not 50,000. Cells are filled with textContent only.
 */
const SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('actions-data').textContent);
  var table = document.getElementById('actions-table');
  var tbody = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var numeric = heads.map(function (h) { return h.hasAttribute('data-num'); });
  var m = /[#&]rows=(\\d+)/.exec(location.hash);
  var pageSize = m ? Math.max(1, Number(m[1])) : Number(table.getAttribute('data-page-size'));
  var TYPE = 1, STATUS = 2, SHA = 10;
  var search = null;
  function haystack(i) {
    if (!search) {
      search = data.map(function (r) { return r.join('\\u0001').toLowerCase(); });
    }
    return search[i];
  }
  var order = data.map(function (_, i) { return i; });
  var view = order;
  var limit = pageSize;
  var sortCol = -1, dir = 1;
  var filter = document.getElementById('filter');
  var typeSel = document.getElementById('type-filter');
  var statusSel = document.getElementById('status-filter');
  var shown = document.getElementById('shown');
  var more = document.getElementById('more');
  function fmt(n) { return Number(n).toLocaleString('en-US'); }
  function row(r) {
    var tr = document.createElement('tr');
    tr.className = r[TYPE] + ' ' + r[STATUS];
    tr.setAttribute('data-type', r[TYPE]);
    tr.setAttribute('data-status', r[STATUS]);
    for (var c = 0; c < heads.length; c++) {
      var td = document.createElement('td');
      var v = r[c];
      if (numeric[c]) {
        td.className = 'num';
        td.setAttribute('data-v', String(v));
        td.textContent = fmt(v);
      } else if (c === SHA) {
        td.className = 'hash';
        if (v) { td.title = v; td.textContent = v.slice(0, 12) + '\\u2026'; }
        else td.textContent = '(hardlinks)';
      } else {
        if (c === TYPE) td.className = 'type';
        if (c === STATUS) td.className = 'status';
        if (c === 7 || c === 8) {
          // A path may break after each '/' (a <wbr>, which copies as nothing); break-word,
          // unlike anywhere, does not let the column shrink below its longest name.
          td.className = 'path';
          var parts = String(v).split('/');
          for (var k = 0; k < parts.length; k++) {
            if (k > 0) { td.appendChild(document.createTextNode('/')); td.appendChild(document.createElement('wbr')); }
            if (parts[k]) td.appendChild(document.createTextNode(parts[k]));
          }
        } else td.textContent = v;
      }
      tr.appendChild(td);
    }
    return tr;
  }
  function render() {
    var frag = document.createDocumentFragment();
    var n = Math.min(limit, view.length);
    for (var i = 0; i < n; i++) frag.appendChild(row(data[view[i]]));
    tbody.textContent = '';
    tbody.appendChild(frag);
    shown.textContent = view.length === data.length
      ? 'Showing ' + fmt(n) + ' of ' + fmt(data.length) + ' rows'
      : fmt(view.length) + ' of ' + fmt(data.length) + ' rows match' +
        (n < view.length ? ', showing the first ' + fmt(n) : '');
    shown.setAttribute('data-v', String(view.length));
    more.hidden = n >= view.length;
    more.textContent = 'Show ' + fmt(Math.min(pageSize, view.length - n)) + ' more';
  }
  function apply() {
    var q = filter.value.trim().toLowerCase();
    var t = typeSel.value, s = statusSel.value;
    view = order.filter(function (i) {
      var r = data[i];
      return (!t || r[TYPE] === t) && (!s || r[STATUS] === s) && (!q || haystack(i).indexOf(q) >= 0);
    });
    limit = pageSize;
    render();
  }
  function sortBy(col) {
    dir = sortCol === col ? -dir : 1;
    sortCol = col;
    order = order.slice().sort(function (a, b) {
      var x = data[a][col], y = data[b][col];
      if (x === null) x = '';
      if (y === null) y = '';
      if (x < y) return -dir;
      if (x > y) return dir;
      return a - b;
    });
    heads.forEach(function (h, i) {
      if (i === col) h.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else h.removeAttribute('aria-sort');
    });
    apply();
  }
  heads.forEach(function (h, i) {
    h.addEventListener('click', function () { sortBy(i); });
    h.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(i); }
    });
  });
  var timer = 0;
  filter.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(apply, data.length > 20000 ? 150 : 0);
  });
  typeSel.addEventListener('change', apply);
  statusSel.addEventListener('change', apply);
  more.addEventListener('click', function () { limit += pageSize; render(); });
  render();
  document.documentElement.setAttribute('data-ready', '1');
})();
`;

function fact(
  label: string,
  id: string,
  value: string,
  raw?: number,
  kind: 'text' | 'path' = 'text',
): string {
  return `<div><dt>${escapeHtml(label)}</dt><dd id="${id}"${raw === undefined ? '' : ` data-v="${raw}"`}${kind === 'path' ? ' class="path"' : ''}>${value}</dd></div>`;
}

/** A number (count or size) kept on one line. */
function num(text: string): string {
  return `<span class="num">${text}</span>`;
}

function countTable(
  id: string,
  caption: string,
  keyTitle: string,
  entries: [string, number][],
): string {
  const body = entries.length
    ? entries
        .map(
          ([k, n]) =>
            `<tr data-key="${escapeHtml(k)}"><td>${text(k)}</td><td class="num" data-v="${n}">${formatCount(n)}</td></tr>`,
        )
        .join('')
    : `<tr><td colspan="2" class="note">none</td></tr>`;
  return `<table id="${id}"><caption>${escapeHtml(caption)}</caption><thead><tr><th>${escapeHtml(keyTitle)}</th><th class="num">Actions</th></tr></thead><tbody>${body}</tbody></table>`;
}

const COLUMNS: readonly { title: string; num?: boolean }[] = [
  { title: 'ID', num: true },
  { title: 'Type' },
  { title: 'Status' },
  { title: 'Group', num: true },
  { title: 'Device' },
  { title: 'Bytes saved', num: true },
  { title: 'Size', num: true },
  { title: 'Source (kept)' },
  { title: 'Target' },
  { title: 'Reason / error' },
  { title: 'SHA-256' },
];

/** Rows shown at once; the page has a "Show more" button for the rest. */
export const HTML_PAGE_ROWS = 1000;

/** JSON that is safe inside <script>: no '<', '>', '&' or line separators left raw. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** One action as the page's script reads it (COLUMNS order). */
function actionRowJson(r: ActionReportRow): string {
  const a = r.action;
  const note = [a.reason, a.error].filter((x): x is string => !!x).join(' — ');
  return scriptJson([
    a.id,
    r.type,
    a.status,
    a.groupNo,
    displayPath(Buffer.from(r.device, 'utf8')),
    a.bytes,
    a.size,
    displayPath(r.source),
    displayPath(r.target),
    displayPath(Buffer.from(note, 'utf8')),
    a.groupHash ? a.groupHash.toString('hex') : null,
  ]);
}

/** Write the page. Returns the number of action rows embedded. */
export async function writePlanHtml(
  db: DB,
  r: PlanReport,
  out: Output,
  maxRows = HTML_MAX_ROWS,
): Promise<number> {
  const p = r.plan;
  const stored = planFilters(p.options);
  const byId = new Map(r.devices.map((d) => [d.id, d]));
  const devName = (id: number) => {
    const d = byId.get(id);
    return d ? `${d.alias} (${displayPath(d.mountPoint)})` : `device ${id}`;
  };
  const planDevices = r.deviceTotals.map((t) => devName(t.deviceId));
  const embedded = Math.min(maxRows, r.totalActions);
  const head = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    // Nothing may be fetched: the page works offline and leaks nothing.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="hashall conductor report">`,
    `<title>hashall plan #${p.id}: ${text(p.name)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<header><h1>Plan #${p.id}: ${text(p.name)}</h1>`,
    `<p class="meta">hashall conductor report · generated ${escapeHtml(formatTime(r.generatedAt.getTime()))}</p></header>`,
    '<section id="summary"><h2>Summary</h2><dl class="facts">',
    fact('Plan', 'sum-id', num(String(p.id)), p.id),
    fact('Status', 'sum-status', escapeHtml(p.status)),
    fact('Created', 'sum-created', escapeHtml(formatTime(p.createdAt))),
    fact('Executed', 'sum-executed', escapeHtml(formatTime(p.executedAt))),
    fact(
      'Devices',
      'sum-devices',
      planDevices.length
        ? planDevices.map(text).join('<br>')
        : text(p.options.deviceAlias ?? 'all devices (no actions)'),
      planDevices.length,
      'path',
    ),
    fact('Keep rules', 'sum-keep', text(stored.keepRules.join(', ')), undefined, 'path'),
    ...(r.mode === 'reflink'
      ? [fact('Mode', 'sum-mode', 'reflink (copy-on-write clones, savings are blocks shared)')]
      : []),
    fact(
      'Scope',
      'sum-scope',
      r.scope.length
        ? r.scope.map((e) => escapeHtml(displayPath(e.path))).join('<br>')
        : text(p.options.deviceAlias ? `all of ${p.options.deviceAlias}` : 'everything catalogued'),
      r.scope.length,
      'path',
    ),
    fact(
      'Filters',
      'sum-filters',
      text(describeFilters(stored.filters) ?? 'none'),
      undefined,
      'path',
    ),
    fact(
      'Opportunities (inodes freed)',
      'sum-opportunities',
      num(formatCount(p.opportunities)),
      p.opportunities,
    ),
    fact(
      'Potential savings',
      'sum-bytes-saveable',
      `${num(formatBytes(p.bytesSaveable))} <span class="meta num">(${formatCount(p.bytesSaveable)} bytes)</span>`,
      p.bytesSaveable,
    ),
    fact(
      'Freed by execution',
      'sum-bytes-freed',
      `${num(formatBytes(r.bytesFreed))} <span class="meta num">(${formatCount(r.bytesFreed)} bytes)</span>`,
      r.bytesFreed,
    ),
    fact('Actions', 'sum-actions', num(formatCount(r.totalActions)), r.totalActions),
    ...(p.pendingGroups
      ? [
          fact(
            'Pending (not hashed, not planned)',
            'sum-pending',
            num(formatCount(p.pendingGroups)),
            p.pendingGroups,
          ),
        ]
      : []),
    '</dl><div class="counts">',
    countTable('counts-by-type', 'Actions by type', 'Type', Object.entries(r.counts)),
    countTable('counts-by-status', 'Actions by status', 'Status', Object.entries(r.byStatus)),
    countTable('counts-by-reason', 'Skipped by reason', 'Reason', Object.entries(r.skipReasons)),
    '</div></section>',
    '<section id="charts">',
    '<h2>Savings by device</h2>',
    barChart(
      'chart-devices',
      'Savings by device',
      r.deviceTotals.map((t) => ({
        label: devName(t.deviceId),
        detail: `${formatCount(t.hardlinks)} hardlinks`,
        value: t.bytesSaveable,
      })),
    ),
    `<h2>Top ${r.topGroups.length || ''} groups by bytes saved</h2>`,
    barChart(
      'chart-groups',
      'Top groups by bytes saved',
      // Labelled by rank (the list is sorted by bytes saved, then group number): group numbers
      // come from the plan's order, and `#9` above `#8` read as a ranking error.
      r.topGroups.map((g, i) => ({
        label: `${i + 1}. ${g.sha256 ? g.sha256.toString('hex').slice(0, 12) : '(hardlinks)'} · ${formatBytes(g.size)} · ${formatCount(g.hardlinks)} ${g.hardlinks === 1 ? 'link' : 'links'}`,
        detail: `group ${g.groupNo} on ${devName(g.deviceId)}, ${formatCount(g.hardlinks)} hardlinks`,
        value: g.bytesSaveable,
      })),
    ),
    '</section>',
    '<section id="actions"><h2>Actions</h2>',
    embedded < r.totalActions
      ? `<p class="notice" id="truncated" data-v="${embedded}">This page shows the first ${formatCount(embedded)} of ${formatCount(r.totalActions)} actions (${r.mode === 'reflink' ? 'REFLINK' : 'HARDLINK'} by bytes saved, then NOOP, then SKIP). Every action: <code>hashall conductor report ${p.id} --format csv --out plan-${p.id}.csv</code></p>`
      : '',
    '<div class="controls">',
    '<input id="filter" type="search" placeholder="Filter: path, reason, hash, device…" aria-label="Filter rows">',
    `<select id="type-filter" aria-label="Action type"><option value="">All types</option><option>${r.mode === 'reflink' ? 'REFLINK' : 'HARDLINK'}</option><option>NOOP</option><option>SKIP</option></select>`,
    '<select id="status-filter" aria-label="Status"><option value="">All statuses</option><option>pending</option><option>executed</option><option>noop</option><option>failed</option><option>skipped</option></select>',
    `<span id="shown" class="meta" data-v="${embedded}">Showing ${formatCount(embedded)} of ${formatCount(embedded)} rows</span>`,
    '</div>',
    `<table id="actions-table" data-page-size="${HTML_PAGE_ROWS}"><thead><tr>`,
    COLUMNS.map(
      (c) => `<th tabindex="0"${c.num ? ' data-num class="num"' : ''}>${escapeHtml(c.title)}</th>`,
    ).join(''),
    '</tr></thead><tbody></tbody></table>',
    '<p><button id="more" type="button" hidden>Show more</button></p>',
    '<noscript><p class="notice">The action table needs JavaScript; the CSV and JSON reports hold the same rows.</p></noscript>',
    '</section>',
    '<script type="application/json" id="actions-data">[',
  ].join('\n');
  await out.write(head);
  const toRow = reportRowMapper(db, r.devices, r.mode);
  let n = 0;
  for (const a of iterateTopActions(db, p.id, maxRows)) {
    const w = out.write(`${n === 0 ? '\n' : ',\n'}${actionRowJson(toRow(a))}`);
    n++;
    if (w) await w;
  }
  await out.write(`\n]</script>\n<script>${SCRIPT}</script>\n</body></html>\n`);
  return n;
}
