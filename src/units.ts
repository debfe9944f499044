/**
 * Sizes given on the command line (`--min-savings 1GB`). KB, MB, GB, TB, PB are powers of 1000;
 * KiB, MiB, … and the one-letter k, M, G, T, P (as in du, find and truncate) are powers of 1024;
 * units are case-insensitive and a bare number is bytes. A fraction is allowed (`1.5GB`).
 *
 * The same grammar as the filters' size parser (issue 6, --min-size): one of the two is meant
 * to go when both branches are merged.
 */
import { UserError } from './errors.js';

const UNITS: Record<string, bigint> = {
  '': 1n,
  b: 1n,
  kb: 1000n,
  mb: 1000n ** 2n,
  gb: 1000n ** 3n,
  tb: 1000n ** 4n,
  pb: 1000n ** 5n,
  k: 1024n,
  m: 1024n ** 2n,
  g: 1024n ** 3n,
  t: 1024n ** 4n,
  p: 1024n ** 5n,
  ki: 1024n,
  mi: 1024n ** 2n,
  gi: 1024n ** 3n,
  ti: 1024n ** 4n,
  pi: 1024n ** 5n,
  kib: 1024n,
  mib: 1024n ** 2n,
  gib: 1024n ** 3n,
  tib: 1024n ** 4n,
  pib: 1024n ** 5n,
};

/**
 * Bytes, exactly (integer arithmetic). A fraction that does not come to a whole number of bytes
 * is rounded `up` (right for a minimum: `--min-savings 1.5k` is 1536) or `down`.
 */
export function parseSize(text: string, option: string, round: 'up' | 'down' = 'up'): number {
  const m = /^\s*(\d*)(?:\.(\d*))?\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[3]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || (m[1] === '' && !m[2])) {
    throw new UserError(
      `${option}: '${text}' is not a size (examples: 1GB, 500MiB, 10G, 4096 bytes)`,
    );
  }
  const frac = m[2] ?? '';
  const scaled = BigInt((m[1] || '0') + frac) * unit;
  const den = 10n ** BigInt(frac.length);
  let bytes = scaled / den;
  if (round === 'up' && bytes * den !== scaled) bytes += 1n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(`${option}: '${text}' is too large`);
  }
  return Number(bytes);
}
