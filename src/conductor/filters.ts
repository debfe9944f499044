/**
 * Filters of `conductor analyze` and `conductor plan`: which paths of a duplicate group a plan
 * may touch. Sizes and times are parsed here, exactly (bytes as integers, times in
 * nanoseconds); globs are matched with picomatch against the path as show-plan prints it.
 *
 * A filtered-out path is never replaced and never chosen as the kept copy. Pure logic: the
 * planner (keep.ts) decides what a filtered path means for its group.
 */
import { isUtf8 } from 'node:buffer';
import picomatch from 'picomatch';
import { UserError } from '../errors.js';
import { baseName } from '../paths.js';
import { shellEscape } from '../display-path.js';
import type { Member } from '../catalog/groups.js';
import type { FiltersJson } from '../catalog/plan-types.js';

/** A value quoted for a one-line error message (control characters escaped). */
// An option's value, quoted so that bash would read it back (a newline stays visible).
const q = (text: string) => shellEscape(Buffer.from(text));

// --- sizes -------------------------------------------------------------------------------

const SIZE_UNITS: Record<string, bigint> = {
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

const SIZE_EXAMPLES = '(examples: 1GB, 500MiB, 10k, 4096)';

/**
 * A size in bytes. KB, MB, GB, TB, PB are powers of 1000; KiB, MiB, … and the one-letter
 * k, M, G, T, P (as in du, find and truncate) are powers of 1024; units are case-insensitive
 * and a bare number is bytes. A fraction is allowed (`1.5GB`); a result that is not a whole
 * number of bytes is rounded `up` (a minimum) or `down` (a maximum), which is what comparing
 * with the exact value would do.
 */
export function parseSize(text: string, option: string, round: 'up' | 'down' = 'down'): number {
  const m =
    /^ *(\d+)(?:\.(\d*))? *([a-zA-Z]*) *$/.exec(text) ?? /^ *()\.(\d+) *([a-zA-Z]*) *$/.exec(text);
  const unit = m ? SIZE_UNITS[m[3]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UserError(`${option}: ${q(text)} is not a size ${SIZE_EXAMPLES}`);
  }
  const frac = m[2] ?? '';
  const scaled = BigInt((m[1] || '0') + frac) * unit;
  const den = 10n ** BigInt(frac.length);
  let bytes = scaled / den;
  if (round === 'up' && bytes * den !== scaled) bytes += 1n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UserError(
      `${option}: ${q(text)} is too large (at most ${Number.MAX_SAFE_INTEGER} bytes)`,
    );
  }
  return Number(bytes);
}

// --- times -------------------------------------------------------------------------------

/** An instant, exact to the nanosecond, and the canonical text it is shown and stored as. */
export interface Instant {
  readonly ns: bigint;
  /** ISO 8601 with the offset that applied (`2026-01-01T00:00:00+01:00`); it parses back. */
  readonly text: string;
}

const DATE_EXAMPLES =
  '(examples: 2026-01, 2026-01-31, 2026-01-31T12:00, 2026-01-31T12:00:00Z, @1767225600)';

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/;

const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

function offsetText(minutes: number): string {
  if (minutes === 0) return 'Z';
  const sign = minutes < 0 ? '-' : '+';
  return `${sign}${pad(Math.trunc(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

/** `ms` (whole seconds) + `frac` digits, written in the given offset. */
function canonical(ms: number, fracDigits: string, offsetMin: number): string {
  const d = new Date(ms + offsetMin * 60_000);
  const y = d.getUTCFullYear();
  const frac = fracDigits.replace(/0+$/, '');
  return (
    `${y < 0 ? '-' : ''}${pad(y, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    `${frac ? `.${frac}` : ''}${offsetText(offsetMin)}`
  );
}

/**
 * A point in time: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, then optionally `THH:MM[:SS[.fraction]]`
 * (a space may replace the T; up to 9 fraction digits) and a zone `Z` or `±HH[:MM]`. Without
 * a zone the time is local time (the TZ environment variable), like date(1) and find -newermt;
 * missing parts are the start of the period (`2026-01` is 2026-01-01T00:00 local). `@SECONDS`
 * is seconds since the epoch (UTC).
 */
export function parseInstant(text: string, option: string): Instant {
  const bad = () => new UserError(`${option}: ${q(text)} is not a date or time ${DATE_EXAMPLES}`);
  const t = text.trim();
  const epoch = /^@(-?\d{1,12})(?:\.(\d{1,9}))?$/.exec(t);
  if (epoch) {
    const secs = BigInt(epoch[1]!);
    const digits = epoch[2] ?? '';
    const fracNs = BigInt(digits.padEnd(9, '0') || '0') * (t.includes('@-') ? -1n : 1n);
    const ms = Number(secs) * 1000;
    if (!Number.isFinite(new Date(ms).getTime())) throw bad();
    const ns = secs * 1_000_000_000n + fracNs;
    // A negative epoch with a fraction has no neat calendar text; keep the given form then.
    return { ns, text: fracNs < 0n ? t : canonical(ms, digits, 0) };
  }
  const m = DATE_RE.exec(t);
  if (!m) throw bad();
  const [, ys, mos, ds, hs, mis, ss, fs, zone] = m;
  const year = Number(ys);
  const month = mos ? Number(mos) : 1;
  const day = ds ? Number(ds) : 1;
  const hour = hs ? Number(hs) : 0;
  const minute = mis ? Number(mis) : 0;
  const second = ss ? Number(ss) : 0;
  if (month < 1 || month > 12) throw bad();
  if (day < 1 || day > daysIn(year, month)) throw bad();
  if (hour > 23 || minute > 59 || second > 59) throw bad();
  const digits = fs ?? '';
  const fracNs = BigInt(digits.padEnd(9, '0') || '0');
  let ms: number;
  let offsetMin: number;
  if (zone) {
    if (zone === 'Z' || zone === 'z') offsetMin = 0;
    else {
      const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
      const zh = Number(zm[2]);
      const zmin = Number(zm[3] ?? '0');
      if (zh > 23 || zmin > 59) throw bad();
      offsetMin = (zm[1] === '-' ? -1 : 1) * (zh * 60 + zmin);
    }
    const utc = new Date(0);
    utc.setUTCFullYear(year, month - 1, day);
    utc.setUTCHours(hour, minute, second, 0);
    ms = utc.getTime() - offsetMin * 60_000;
  } else {
    const local = new Date(0);
    local.setFullYear(year, month - 1, day);
    local.setHours(hour, minute, second, 0);
    ms = local.getTime();
    offsetMin = -new Date(ms).getTimezoneOffset();
  }
  if (!Number.isFinite(ms)) throw bad();
  const ns = BigInt(ms) * 1_000_000n + fracNs;
  return { ns, text: canonical(ms, digits, offsetMin) };
}

// --- globs -------------------------------------------------------------------------------

/**
 * The string a glob sees for a byte path: the UTF-8 text when the bytes are valid UTF-8 (the
 * usual case); otherwise each byte that is not part of a valid UTF-8 sequence becomes the lone
 * surrogate U+DC80–U+DCFF (Python's "surrogateescape"). Distinct paths stay distinct, valid
 * names match as typed, and an invalid byte is matched by `?` or `*`.
 */
export function globText(b: Buffer): string {
  if (isUtf8(b)) return b.toString('utf8');
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n =
      c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    let ok = n > 0 && i + n <= b.length;
    for (let k = 1; ok && k < n; k++) {
      const x = b[i + k]!;
      let lo = 0x80;
      let hi = 0xbf;
      if (k === 1) {
        // Table 3-7 of the Unicode standard: no overlongs, no surrogates, nothing above U+10FFFF.
        if (c === 0xe0) lo = 0xa0;
        else if (c === 0xed) hi = 0x9f;
        else if (c === 0xf0) lo = 0x90;
        else if (c === 0xf4) hi = 0x8f;
      }
      if (x < lo || x > hi) ok = false;
    }
    if (ok) {
      out += b.toString('utf8', i, i + n);
      i += n;
    } else {
      out += String.fromCharCode(0xdc00 + c);
      i++;
    }
  }
  return out;
}

export interface Glob {
  readonly pattern: string;
  test(path: string, base: string): boolean;
}

/**
 * One --include/--exclude pattern (picomatch, dotfiles included):
 * - without `/`: matches the last path component (`*.mkv`, `.DS_Store`);
 * - starting with `/`: matches the whole absolute path (`/pool/media/**`);
 * - any other pattern with `/` matches the end of the path at a component boundary, as if it
 *   began with `**` and a slash (`media/*.mkv` matches `/pool/media/a.mkv` and `/x/media/b.mkv`);
 * - a trailing `/` means everything below (`/pool/seeding/` is `/pool/seeding/**`).
 * `*` and `?` never match `/`; `**` as a whole component matches any number of components.
 */
export function compileGlob(pattern: string, option: string): Glob {
  if (pattern === '') throw new UserError(`${option}: a pattern cannot be empty`);
  if (pattern.startsWith('!') && !pattern.startsWith('!(')) {
    throw new UserError(
      `${option}: ${q(pattern)} is negated; use --exclude for paths to leave out (or --include to keep only some)`,
    );
  }
  let p = pattern.endsWith('/') ? `${pattern}**` : pattern;
  const basenameOnly = !p.includes('/');
  if (!basenameOnly && !p.startsWith('/') && !p.startsWith('**/')) p = `**/${p}`;
  let re: RegExp;
  try {
    // picomatch builds `**` from `.`, which does not match a newline: a name holding one would
    // escape `--exclude '/pool/tmp/**'`. The `s` flag makes `.` match every character.
    const made = picomatch.makeRe(p, { dot: true });
    re = new RegExp(made.source, `${made.flags.replace('s', '')}s`);
  } catch (err) {
    throw new UserError(
      `${option}: ${q(pattern)} is not a valid pattern (${(err as Error).message})`,
    );
  }
  return {
    pattern,
    test: (path, base) => re.test(basenameOnly ? base : path),
  };
}

// --- the filter set ----------------------------------------------------------------------

export interface FilterInput {
  readonly minSize?: string | undefined;
  readonly maxSize?: string | undefined;
  readonly mtimeSince?: string | undefined;
  readonly mtimeBefore?: string | undefined;
  readonly include?: readonly string[] | undefined;
  readonly exclude?: readonly string[] | undefined;
}

export class Filters {
  private constructor(
    readonly minSize: number | undefined,
    readonly maxSize: number | undefined,
    readonly since: Instant | undefined,
    readonly before: Instant | undefined,
    readonly include: readonly Glob[],
    readonly exclude: readonly Glob[],
  ) {}

  static readonly none = new Filters(undefined, undefined, undefined, undefined, [], []);

  /** Parse and check the command-line values; any bad value is a UserError (exit 2). */
  static parse(input: FilterInput): Filters {
    const minSize =
      input.minSize === undefined ? undefined : parseSize(input.minSize, '--min-size', 'up');
    const maxSize =
      input.maxSize === undefined ? undefined : parseSize(input.maxSize, '--max-size', 'down');
    if (minSize !== undefined && maxSize !== undefined && minSize > maxSize) {
      throw new UserError(
        `--min-size ${q(input.minSize!)} (${minSize} bytes) is larger than --max-size ${q(input.maxSize!)} (${maxSize} bytes): nothing could match`,
      );
    }
    const since =
      input.mtimeSince === undefined ? undefined : parseInstant(input.mtimeSince, '--mtime-since');
    const before =
      input.mtimeBefore === undefined
        ? undefined
        : parseInstant(input.mtimeBefore, '--mtime-before');
    if (since && before && since.ns >= before.ns) {
      throw new UserError(
        `--mtime-since ${since.text} is not earlier than --mtime-before ${before.text}: nothing could match (since is inclusive, before exclusive)`,
      );
    }
    const include = (input.include ?? []).map((p) => compileGlob(p, '--include'));
    const exclude = (input.exclude ?? []).map((p) => compileGlob(p, '--exclude'));
    return new Filters(minSize, maxSize, since, before, include, exclude);
  }

  /** True when some filter looks at individual paths (not only at the group's size). */
  get perPath(): boolean {
    return (
      this.since !== undefined ||
      this.before !== undefined ||
      this.include.length > 0 ||
      this.exclude.length > 0
    );
  }

  get active(): boolean {
    return this.perPath || this.minSize !== undefined || this.maxSize !== undefined;
  }

  /** Size filters apply to a whole group: every copy has the same size. */
  sizeOk(size: number): boolean {
    return (
      (this.minSize === undefined || size >= this.minSize) &&
      (this.maxSize === undefined || size <= this.maxSize)
    );
  }

  /**
   * Why a path is filtered out (the SKIP reason, starting 'filtered'), or undefined when it
   * passes. `visible` is the path as show-plan prints it (mount point + path inside).
   */
  reject(m: Member, visible: Buffer): string | undefined {
    if (!this.sizeOk(m.size)) return 'filtered: size outside --min-size/--max-size';
    if (this.since && m.mtimeNs < this.since.ns)
      return `filtered: modified before --mtime-since ${this.since.text}`;
    if (this.before && m.mtimeNs >= this.before.ns)
      return `filtered: modified at or after --mtime-before ${this.before.text}`;
    if (this.include.length === 0 && this.exclude.length === 0) return undefined;
    const path = globText(visible);
    const base = globText(baseName(visible));
    if (this.include.length > 0 && !this.include.some((g) => g.test(path, base)))
      return 'filtered: matches no --include';
    const ex = this.exclude.find((g) => g.test(path, base));
    if (ex) return `filtered: matches --exclude ${q(ex.pattern)}`;
    return undefined;
  }

  toJson(): FiltersJson {
    return {
      min_size: this.minSize ?? null,
      max_size: this.maxSize ?? null,
      mtime_since: this.since?.text ?? null,
      mtime_before: this.before?.text ?? null,
      include: this.include.map((g) => g.pattern),
      exclude: this.exclude.map((g) => g.pattern),
    };
  }
}

/** One line for humans, or undefined when nothing is filtered. */
export function describeFilters(f: Partial<FiltersJson> | null | undefined): string | undefined {
  if (!f) return undefined;
  const parts: string[] = [];
  const n = (x: number) => x.toLocaleString('en-US');
  if (f.min_size != null && f.max_size != null)
    parts.push(`size ${n(f.min_size)}–${n(f.max_size)} bytes`);
  else if (f.min_size != null) parts.push(`size ≥ ${n(f.min_size)} bytes`);
  else if (f.max_size != null) parts.push(`size ≤ ${n(f.max_size)} bytes`);
  if (f.mtime_since) parts.push(`mtime ≥ ${f.mtime_since}`);
  if (f.mtime_before) parts.push(`mtime < ${f.mtime_before}`);
  for (const p of f.include ?? []) parts.push(`include ${q(p)}`);
  for (const p of f.exclude ?? []) parts.push(`exclude ${q(p)}`);
  return parts.length ? parts.join(', ') : undefined;
}
