/**
 * How numbers and times are printed, in the terminal and in reports alike. A base module: it
 * imports nothing, so every layer may use it, the CLI included (cli/format.ts holds only the
 * terminal's own helpers).
 */

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

/**
 * 12,345,678: grouped by hand for integers, as toLocaleString('en-US') groups them — its first
 * call loads ICU's locale data, tens of ms of every command that prints a count.
 */
export function formatCount(n: number | bigint): string {
  const v = Number(n);
  if (!Number.isSafeInteger(v)) return v.toLocaleString('en-US');
  const digits = String(Math.abs(v));
  let out = '';
  for (let end = digits.length; end > 0; end -= 3) {
    const start = Math.max(0, end - 3);
    out = out === '' ? digits.slice(start, end) : `${digits.slice(start, end)},${out}`;
  }
  return v < 0 ? `-${out}` : out;
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'never';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
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
