/** Rendering helpers for human output. */
import { formatBytes, formatCount, formatTime } from '../format.js';

// The number and time formats reports share live in the base module src/format.ts;
// re-exported here so CLI code keeps one import for everything it prints.
export { formatBytes, formatCount, formatTime };

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
