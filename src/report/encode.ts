/**
 * Row encodings shared by `conductor report` and `export`: one column list drives both the
 * JSON object and the CSV record of a row, so the two formats always carry the same fields.
 */
import { isUtf8 } from 'node:buffer';

export type Scalar = string | number | bigint | boolean | null;

export interface Column<R> {
  readonly name: string;
  readonly get: (row: R) => Scalar;
  /** JSON leaves the key out when the value is null (the `_b64` twins); CSV leaves it empty. */
  readonly omitNull?: boolean;
}

/** A path as two columns: `key` (UTF-8, U+FFFD for invalid bytes) and `key_b64` (exact bytes, only when needed). */
export function pathColumns<R>(key: string, get: (row: R) => Buffer): Column<R>[] {
  return [
    { name: key, get: (r) => get(r).toString('utf8') },
    {
      name: `${key}_b64`,
      get: (r) => {
        const b = get(r);
        return isUtf8(b) ? null : b.toString('base64');
      },
      omitNull: true,
    },
  ];
}

/**
 * JSON text of a scalar. A bigint is written with all its digits: JSON numbers have no size
 * limit, and an inode above 2^53 must not be rounded on its way out.
 */
export function jsonScalar(v: Scalar): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return JSON.stringify(v);
}

/** One JSON object (one line) for a row. */
export function jsonRow<R>(columns: readonly Column<R>[], row: R): string {
  let out = '{';
  let first = true;
  for (const c of columns) {
    const v = c.get(row);
    if (v === null && c.omitNull) continue;
    out += `${first ? '' : ','}${JSON.stringify(c.name)}:${jsonScalar(v)}`;
    first = false;
  }
  return out + '}';
}

const NEEDS_QUOTES = /[",\r\n]/;

/** One RFC 4180 field: quoted (quotes doubled) when it holds a comma, a quote, CR or LF. */
export function csvField(v: Scalar): string {
  if (v === null) return '';
  const s = typeof v === 'string' ? v : String(v);
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One RFC 4180 record, CRLF-terminated. */
export function csvRecord(values: readonly Scalar[]): string {
  return values.map(csvField).join(',') + '\r\n';
}

export function csvHeader<R>(columns: readonly Column<R>[]): string {
  return csvRecord(columns.map((c) => c.name));
}

export function csvRow<R>(columns: readonly Column<R>[], row: R): string {
  return csvRecord(columns.map((c) => c.get(row)));
}

/** An inode as SQLite stores it (signed 64-bit) back to the unsigned number lstat shows. */
export function unsignedInode(v: bigint): bigint {
  return BigInt.asUintN(64, v);
}

/** Nanoseconds since the epoch as ISO 8601 with all nine digits, or null beyond Date's range. */
export function isoFromNs(ns: bigint): string | null {
  const sec = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
  const frac = ns - sec * 1_000_000_000n;
  const ms = Number(sec) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  const base = new Date(ms).toISOString(); // …T12:34:56.000Z
  return `${base.slice(0, -5)}.${frac.toString().padStart(9, '0')}Z`;
}
