/** Rendering helpers for human output. */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** Decimal units, as the guide prints them: 45.2 GB. */
export function formatBytes(n: number | bigint): string {
  let v = Number(n);
  let u = 0;
  while (Math.abs(v) >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

export function formatCount(n: number | bigint): string {
  return Number(n).toLocaleString('en-US');
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'never';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** A simple aligned table; `right` marks numeric columns. */
export function table(headers: string[], rows: string[][], right: boolean[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Plurals that do not just add an s. */
const IRREGULAR: Record<string, string> = {
  directory: 'directories',
  copy: 'copies',
  entry: 'entries',
};

/** '1 file', '2,000 files', '1 directory', '3 directories': every count of a noun in output. */
export function countOf(n: number | bigint, singular: string, plural?: string): string {
  const word = Number(n) === 1 ? singular : (plural ?? IRREGULAR[singular] ?? `${singular}s`);
  return `${formatCount(n)} ${word}`;
}
