/**
 * The HTML report's inline style sheet and script: the text of the page's <style> and
 * <script> elements (the page fetches nothing; see html.ts).
 */

export const CSS = `
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
export const SCRIPT = `
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
