/**
 * The pieces of the HTML report's markup: escaping, facts, count tables, bar charts, and JSON
 * that is safe inside <script>. Everything taken from the catalog passes through here.
 */
import { formatBytes, formatCount } from '../format.js';
import { displayPath } from '../paths.js';

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
export function text(s: string): string {
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

export function fact(
  label: string,
  id: string,
  value: string,
  raw?: number,
  kind: 'text' | 'path' = 'text',
): string {
  return `<div><dt>${escapeHtml(label)}</dt><dd id="${id}"${raw === undefined ? '' : ` data-v="${raw}"`}${kind === 'path' ? ' class="path"' : ''}>${value}</dd></div>`;
}

/** A number (count or size) kept on one line. */
export function num(text: string): string {
  return `<span class="num">${text}</span>`;
}

export function countTable(
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

/** JSON that is safe inside <script>: no '<', '>', '&' or line separators left raw. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
