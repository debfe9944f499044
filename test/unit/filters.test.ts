import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Member } from '../../src/catalog/groups.js';
import {
  Filters,
  compileGlob,
  describeFilters,
  globText,
  parseInstant,
  parseSize,
} from '../../src/conductor/filters.js';
import { UserError } from '../../src/errors.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a UserError');
}

describe('parseSize', () => {
  it('reads plain bytes, decimal units (1000^n), binary units and one-letter shorthands (1024^n)', () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['4096', 4096],
      ['4096B', 4096],
      ['1KB', 1000],
      ['1kB', 1000],
      ['1MB', 1e6],
      ['1GB', 1e9],
      ['1gb', 1e9],
      ['2TB', 2e12],
      ['1PB', 1e15],
      ['1KiB', KiB],
      ['500MiB', 500 * MiB],
      ['1GiB', GiB],
      ['1gib', GiB],
      ['1Gi', GiB],
      ['10k', 10 * KiB],
      ['10K', 10 * KiB],
      ['3M', 3 * MiB],
      ['1G', GiB],
      ['1T', 1024 ** 4],
      ['1.5GB', 1.5e9],
      ['1.5k', 1536],
      ['.5KiB', 512],
      [' 12 MB ', 12e6],
      ['1.', 1],
    ];
    for (const [text, bytes] of cases)
      expect([text, parseSize(text, '--min-size')]).toEqual([text, bytes]);
  });

  it('rounds a fractional byte count up for a minimum and down for a maximum', () => {
    expect(parseSize('0.1k', '--min-size', 'up')).toBe(103); // 102.4
    expect(parseSize('0.1k', '--max-size', 'down')).toBe(102);
    expect(parseSize('0.5', '--min-size', 'up')).toBe(1);
    expect(parseSize('0.5', '--max-size', 'down')).toBe(0);
    expect(parseSize('1.5k', '--min-size', 'up')).toBe(1536);
  });

  it('refuses anything else with one line naming the option and examples', () => {
    expect(refused(() => parseSize('12XB', '--min-size'))).toBe(
      "--min-size: '12XB' is not a size (examples: 1GB, 500MiB, 10k, 4096)",
    );
    for (const bad of ['', ' ', '-1', '1e9', 'GB', '1.2.3', '1 G B', '0x10', 'ten', '1,5G', '1\nG'])
      expect(refused(() => parseSize(bad, '--max-size'))).toMatch(
        /^--max-size: '.*' is not a size/,
      );
    expect(refused(() => parseSize('99999999PB', '--max-size'))).toMatch(/too large/);
  });

  it('is exact for every whole number and unit (property)', () => {
    const units: [string, bigint][] = [
      ['', 1n],
      ['KB', 1000n],
      ['MB', 1000n ** 2n],
      ['GB', 1000n ** 3n],
      ['KiB', 1024n],
      ['MiB', 1024n ** 2n],
      ['GiB', 1024n ** 3n],
      ['k', 1024n],
      ['M', 1024n ** 2n],
      ['G', 1024n ** 3n],
    ];
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.constantFrom(...units), (n, [unit, mult]) => {
        const exact = BigInt(n) * mult;
        if (exact > BigInt(Number.MAX_SAFE_INTEGER)) return;
        expect(parseSize(`${n}${unit}`, '--min-size')).toBe(Number(exact));
      }),
    );
  });
});

describe('parseInstant', () => {
  const savedTz = process.env.TZ;
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });
  const ms = (...a: [number, number, number?, number?, number?, number?]) =>
    BigInt(Date.UTC(...a)) * 1_000_000n;

  it('takes a time without a zone as local time (TZ) and fills missing parts with the start', () => {
    process.env.TZ = 'Asia/Kolkata'; // +05:30, no daylight saving
    expect(parseInstant('2026-01', '--mtime-since')).toEqual({
      ns: ms(2025, 11, 31, 18, 30),
      text: '2026-01-01T00:00:00+05:30',
    });
    expect(parseInstant('2026', '--mtime-since').ns).toBe(ms(2025, 11, 31, 18, 30));
    expect(parseInstant('2026-01-31', 'x').ns).toBe(ms(2026, 0, 30, 18, 30));
    expect(parseInstant('2026-01-31T12:00', 'x').ns).toBe(ms(2026, 0, 31, 6, 30));
    expect(parseInstant('2026-01-31 12:00:30', 'x').ns).toBe(ms(2026, 0, 31, 6, 30, 30));
    process.env.TZ = 'America/New_York'; // the offset follows daylight saving
    expect(parseInstant('2026-01-15', 'x').text).toBe('2026-01-15T00:00:00-05:00');
    expect(parseInstant('2026-07-15', 'x').text).toBe('2026-07-15T00:00:00-04:00');
    expect(parseInstant('2026-07-15', 'x').ns).toBe(ms(2026, 6, 15, 4));
  });

  it('honours an explicit zone and keeps nanoseconds exactly', () => {
    process.env.TZ = 'Asia/Kolkata';
    expect(parseInstant('2026-01-31T12:00:00Z', 'x')).toEqual({
      ns: ms(2026, 0, 31, 12),
      text: '2026-01-31T12:00:00Z',
    });
    expect(parseInstant('2026-01-31T12:00:00.123456789+02:00', 'x')).toEqual({
      ns: ms(2026, 0, 31, 10) + 123_456_789n,
      text: '2026-01-31T12:00:00.123456789+02:00',
    });
    expect(parseInstant('2026-01-31T12:00:00,5-0130', 'x').ns).toBe(
      ms(2026, 0, 31, 13, 30) + 500_000_000n,
    );
    expect(parseInstant('2026-01-31T12:00+01', 'x').ns).toBe(ms(2026, 0, 31, 11));
    expect(parseInstant('@0', 'x')).toEqual({ ns: 0n, text: '1970-01-01T00:00:00Z' });
    expect(parseInstant('@1767225600.000000001', 'x').ns).toBe(1_767_225_600_000_000_001n);
  });

  it('checks the calendar', () => {
    expect(parseInstant('2024-02-29', 'x').text).toMatch(/^2024-02-29T/);
    expect(parseInstant('2000-02-29', 'x').text).toMatch(/^2000-02-29T/);
    for (const bad of [
      '2023-02-29',
      '1900-02-29',
      '2026-02-30',
      '2026-04-31',
      '2026-13',
      '2026-00',
      '2026-1',
      '2026-01-31T24:00',
      '2026-01-31T12:60',
      '2026-01-31T12:00:60',
      '2026-01-31Z',
      '2026-01-31T12:00:00.1234567890',
      '2026-01-31T12:00+24:00',
      'yesterday',
      '',
      '31/01/2026',
    ]) {
      expect(refused(() => parseInstant(bad, '--mtime-before'))).toMatch(
        /^--mtime-before: '.*' is not a date or time \(examples: /,
      );
    }
  });

  it('prints a canonical form that parses back to the same nanosecond (property)', () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/St_Johns', 'Australia/Lord_Howe']) {
      process.env.TZ = tz;
      fc.assert(
        fc.property(
          fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2100, 0, 1) }),
          fc.integer({ min: 0, max: 999_999_999 }),
          fc.boolean(),
          (msValue, frac, local) => {
            const d = new Date(Math.floor(msValue / 1000) * 1000);
            const p = (n: number) => String(n).padStart(2, '0');
            const text = local
              ? `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${String(frac).padStart(9, '0')}`
              : `${d.toISOString().slice(0, 19)}.${String(frac).padStart(9, '0')}Z`;
            const a = parseInstant(text, 'x');
            expect(parseInstant(a.text, 'x').ns).toBe(a.ns);
            if (!local) expect(a.ns).toBe(BigInt(d.getTime()) * 1_000_000n + BigInt(frac));
          },
        ),
        { numRuns: 200 },
      );
    }
  });
});

/** The inverse of globText: lone surrogates back to their byte, everything else UTF-8. */
function unescape(s: string): Buffer {
  const out: Buffer[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    out.push(c >= 0xdc80 && c <= 0xdcff ? Buffer.from([c - 0xdc00]) : Buffer.from(ch, 'utf8'));
  }
  return Buffer.concat(out);
}

describe('globText', () => {
  it('is the UTF-8 text of valid names and escapes each invalid byte as a lone surrogate', () => {
    expect(globText(Buffer.from('/pool/café/😀.mkv'))).toBe('/pool/café/😀.mkv');
    expect(globText(Buffer.from([0x2f, 0x61, 0xe9, 0x62]))).toBe('/a\udce9b');
    // Overlong, surrogate and truncated sequences are invalid byte by byte.
    expect(globText(Buffer.from([0xc0, 0xaf]))).toBe('\udcc0\udcaf');
    expect(globText(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\udced\udca0\udc80');
    expect(globText(Buffer.from([0x61, 0xe2, 0x82]))).toBe('a\udce2\udc82');
  });

  it('is lossless: distinct byte paths give distinct strings (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const b = Buffer.from(bytes);
        expect(unescape(globText(b)).equals(b)).toBe(true);
        if (b.toString('utf8') === globText(b))
          expect(Buffer.from(globText(b)).equals(b)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('compileGlob', () => {
  const t = (pattern: string, path: string) =>
    compileGlob(pattern, '--include').test(path, path.slice(path.lastIndexOf('/') + 1));

  it('matches a pattern without / against the last component, dotfiles included', () => {
    expect(t('*.mkv', '/pool/media/a.mkv')).toBe(true);
    expect(t('*.mkv', '/pool/media/a.mkv.part')).toBe(false);
    expect(t('.DS_Store', '/pool/x/.DS_Store')).toBe(true);
    expect(t('*', '/pool/x/.hidden')).toBe(true);
    expect(t('a?c', '/p/abc')).toBe(true);
    expect(t('[ab]*', '/p/bcd')).toBe(true);
  });

  it('anchors a pattern starting with /: * stays within a component, ** crosses', () => {
    expect(t('/pool/*', '/pool/a')).toBe(true);
    expect(t('/pool/*', '/pool/a/b')).toBe(false);
    expect(t('/pool/**', '/pool/a/b/c')).toBe(true);
    expect(t('/pool/**', '/poolx/a')).toBe(false);
    expect(t('/pool/**/*.mkv', '/pool/a/.b/c.mkv')).toBe(true);
    expect(t('/pool/media', '/x/pool/media')).toBe(false);
  });

  it('matches names holding a newline like any other name (regression: ** stopped at \\n)', () => {
    expect(t('/pool/**', '/pool/new\nline')).toBe(true);
    expect(t('/pool/tmp/', '/pool/tmp/a\nb/c')).toBe(true);
    expect(t('/pool/**/*.tmp', '/pool/x\ny/z.tmp')).toBe(true);
    expect(t('*.tmp', 'a\nb.tmp')).toBe(true);
    expect(t('/pool/*', '/pool/a\n/b')).toBe(false); // * still stays within a component
  });

  it('floats a relative pattern with / to any component boundary; a trailing / means below', () => {
    expect(t('media/*.mkv', '/pool/media/a.mkv')).toBe(true);
    expect(t('media/*.mkv', '/x/y/media/b.mkv')).toBe(true);
    expect(t('media/*.mkv', '/pool/multimedia/a.mkv')).toBe(false);
    expect(t('media/*.mkv', '/pool/media/sub/a.mkv')).toBe(false);
    expect(t('*/media/*', '/pool/media/film.mkv')).toBe(true); // the guide's example
    expect(t('/pool/seeding/', '/pool/seeding/a/b')).toBe(true);
    expect(t('/pool/seeding/', '/pool/seeding2/a')).toBe(false);
    expect(t('seeding/', '/pool/seeding/a')).toBe(true);
  });

  it('matches names that are not valid UTF-8 through wildcards', () => {
    const path = globText(Buffer.from([0x2f, 0x70, 0x2f, 0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74]));
    expect(t('caf?.t', path)).toBe(true);
    expect(t('/p/*.t', path)).toBe(true);
    expect(t('café.t', path)).toBe(false);
  });

  it('refuses empty and negated patterns', () => {
    expect(refused(() => compileGlob('', '--exclude'))).toMatch(
      /^--exclude: a pattern cannot be empty/,
    );
    expect(refused(() => compileGlob('!*.tmp', '--include'))).toMatch(/negated/);
    expect(t('!(*.tmp)', '/p/a.mkv')).toBe(true);
  });
});

describe('Filters', () => {
  const member = (size: number, mtimeNs: bigint): Member => ({
    fileId: 1,
    deviceId: 1,
    path: Buffer.from('/x'),
    inode: 1n,
    nlink: 1,
    size,
    mtimeNs,
    ctimeNs: 0n,
    mode: 0o100644,
    uid: 0,
    gid: 0,
    sha256: null,
  });

  it('refuses a minimum above the maximum and an empty time range', () => {
    expect(refused(() => Filters.parse({ minSize: '2k', maxSize: '1k' }))).toMatch(
      /--min-size '2k' \(2048 bytes\) is larger than --max-size '1k' \(1024 bytes\)/,
    );
    expect(Filters.parse({ minSize: '1k', maxSize: '1KiB' }).sizeOk(1024)).toBe(true);
    expect(
      refused(() =>
        Filters.parse({ mtimeSince: '2026-01-01T00:00Z', mtimeBefore: '2026-01-01T00:00Z' }),
      ),
    ).toMatch(/is not earlier than --mtime-before/);
  });

  it('keeps sizes inclusive, since inclusive and before exclusive, to the nanosecond', () => {
    const f = Filters.parse({
      minSize: '1k',
      maxSize: '2k',
      mtimeSince: '@100',
      mtimeBefore: '@200',
    });
    expect([1023, 1024, 2048, 2049].map((s) => f.sizeOk(s))).toEqual([false, true, true, false]);
    const at = (ns: bigint) => f.reject(member(1500, ns), Buffer.from('/x'));
    expect(at(99_999_999_999n)).toMatch(/^filtered: modified before --mtime-since/);
    expect(at(100_000_000_000n)).toBeUndefined();
    expect(at(199_999_999_999n)).toBeUndefined();
    expect(at(200_000_000_000n)).toMatch(/^filtered: modified at or after --mtime-before/);
  });

  it('include narrows, exclude wins, and the reason names the pattern', () => {
    const f = Filters.parse({ include: ['/pool/**', '*.iso'], exclude: ['*.tmp'] });
    const r = (p: string) => f.reject(member(1, 0n), Buffer.from(p));
    expect(r('/pool/a.mkv')).toBeUndefined();
    expect(r('/elsewhere/a.iso')).toBeUndefined();
    expect(r('/elsewhere/a.mkv')).toBe('filtered: matches no --include');
    expect(r('/pool/a.tmp')).toBe("filtered: matches --exclude '*.tmp'");
    expect(f.toJson()).toEqual({
      min_size: null,
      max_size: null,
      mtime_since: null,
      mtime_before: null,
      include: ['/pool/**', '*.iso'],
      exclude: ['*.tmp'],
    });
    expect(describeFilters(f.toJson())).toBe(
      "include '/pool/**', include '*.iso', exclude '*.tmp'",
    );
    expect(describeFilters(Filters.none.toJson())).toBeUndefined();
  });
});
