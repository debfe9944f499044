import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  csvField,
  csvRecord,
  isoFromNs,
  jsonRow,
  pathColumns,
  unsignedInode,
  type Column,
} from '../../src/report/encode.js';
import { escapeHtml } from '../../src/report/html-parts.js';
import { parseCsv, pathBytes } from '../helpers/csv.js';

describe('CSV fields (RFC 4180)', () => {
  it('quotes only what needs it and doubles quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(null)).toBe('');
    expect(csvField(12n)).toBe('12');
    expect(csvRecord(['a', 'b,c', null, 3])).toBe('a,"b,c",,3\r\n');
  });

  it('any strings survive a write and a strict parse', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { minLength: 1, maxLength: 6 }),
          {
            minLength: 1,
            maxLength: 10,
          },
        ),
        (records) => {
          const text = records.map((r) => csvRecord(r)).join('');
          const back = parseCsv(text);
          // A record of one empty field is an empty line: the reader sees one empty field too.
          expect(back).toEqual(records);
        },
      ),
    );
  });
});

describe('JSON rows', () => {
  interface R {
    p: Buffer;
    n: bigint;
  }
  const cols: Column<R>[] = [
    ...pathColumns<R>('path', (r) => r.p),
    { name: 'inode', get: (r) => r.n },
  ];

  it('adds path_b64 only for names that are not UTF-8, and keeps big integers exact', () => {
    const ok = JSON.parse(jsonRow(cols, { p: Buffer.from('/a/b'), n: 5n })) as Record<
      string,
      unknown
    >;
    expect(ok).toEqual({ path: '/a/b', inode: 5 });
    const raw = Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9, 0x0a, 0x22]);
    const line = jsonRow(cols, { p: raw, n: 18446744073709551615n });
    expect(line).toContain('"inode":18446744073709551615}');
    const bad = JSON.parse(line) as Record<string, unknown>;
    expect(bad.path).toBe('/caf\ufffd\n"');
    expect(pathBytes(bad, 'path').equals(raw)).toBe(true);
  });

  it('turns stored inodes back into unsigned numbers', () => {
    expect(unsignedInode(-1n)).toBe(18446744073709551615n);
    expect(unsignedInode(42n)).toBe(42n);
  });
});

describe('timestamps', () => {
  it('writes nanoseconds in ISO 8601 with nine digits', () => {
    expect(isoFromNs(1_600_000_000_123_456_789n)).toBe('2020-09-13T12:26:40.123456789Z');
    expect(isoFromNs(0n)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(isoFromNs(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
    expect(isoFromNs(10n ** 30n)).toBeNull();
  });
});

describe('HTML escaping', () => {
  it('escapes the five characters that matter in content and attributes', () => {
    expect(escapeHtml(`<img src=x onerror="a('&')">`)).toBe(
      '&lt;img src=x onerror=&quot;a(&#39;&amp;&#39;)&quot;&gt;',
    );
  });
});
