/**
 * The HTML report: one self-contained page (inline CSS, JS and SVG; a Content-Security-Policy
 * that forbids every fetch) with the plan's summary, savings charts and a sortable, filterable
 * table of its actions. Everything taken from the catalog is escaped; paths are shown as
 * `displayPath` renders them (U+FFFD for invalid UTF-8, control characters as \n, \xNN).
 */
import type { Catalog } from '../catalog/port.js';
import { formatBytes, formatCount, formatTime } from '../format.js';
import { planFilters } from '../catalog/plan-types.js';
import { describeFilters } from '../conductor/filters.js';
import { displayPath } from '../paths.js';
import type { Output } from './output.js';
import { deviceNames } from './device-names.js';
import {
  REPORT_PAGE,
  reportRowMapper,
  type ActionReportRow,
  type PlanReport,
} from './plan-report.js';
import { CSS, SCRIPT } from './html-assets.js';
import { barChart, countTable, escapeHtml, fact, num, scriptJson, text } from './html-parts.js';

/** Rows embedded in the page at most; the page says when a plan has more. */
export const HTML_MAX_ROWS = 50_000;

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
    r.sourcePrefix + displayPath(r.source),
    r.targetPrefix + displayPath(r.target),
    displayPath(Buffer.from(note, 'utf8')),
    a.groupHash ? a.groupHash.toString('hex') : null,
  ]);
}

/** Write the page. Returns the number of action rows embedded. */
export async function writePlanHtml(
  catalog: Pick<Catalog, 'planReport'>,
  r: PlanReport,
  out: Output,
  maxRows = HTML_MAX_ROWS,
): Promise<number> {
  const p = r.plan;
  const stored = planFilters(p.options);
  const names = deviceNames(r.devices, r.view);
  // `pool (/pool)`, or `pool (nas1:/pool)` once the catalog knows several hosts.
  const devName = (id: number) =>
    r.devices.some((d) => d.id === id) ? `${names.alias(id)} (${names.label(id)})` : `device ${id}`;
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
  const toRow = reportRowMapper(r.devices, r.view, r.mode);
  let n = 0;
  const actions = catalog.planReport.actions({
    planId: p.id,
    order: { kind: 'top', limit: maxRows },
    pageSize: REPORT_PAGE,
  });
  for await (const page of actions) {
    for (const a of page) {
      const w = out.write(`${n === 0 ? '\n' : ',\n'}${actionRowJson(toRow(a))}`);
      n++;
      if (w) await w;
    }
  }
  await out.write(`\n]</script>\n<script>${SCRIPT}</script>\n</body></html>\n`);
  return n;
}
