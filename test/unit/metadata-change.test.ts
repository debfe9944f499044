/** How show-plan writes the mtime a target path will show (src/conductor/metadata-change.ts). */
import { describe, expect, it } from 'vitest';
import { mtimeChangeTexts, mtimeText } from '../../src/conductor/metadata-change.js';

const at = (iso: string, ns = 0n) => BigInt(Date.parse(iso)) * 1_000_000n + ns;

describe('mtime texts', () => {
  it('to the second, or with digits of it; a time before 1970 rounds down', () => {
    expect(mtimeText(at('2020-06-01T12:00:00Z', 123_456_789n))).toBe('2020-06-01 12:00:00 UTC');
    expect(mtimeText(at('2020-06-01T12:00:00Z', 123_456_789n), 3)).toBe(
      '2020-06-01 12:00:00.123 UTC',
    );
    expect(mtimeText(at('2020-06-01T12:00:00Z', 5n), 9)).toBe('2020-06-01 12:00:00.000000005 UTC');
    // One nanosecond before the epoch is the last second of 1969, not the epoch's own.
    expect(mtimeText(-1n)).toBe('1969-12-31 23:59:59 UTC');
    expect(mtimeText(-1n, 9)).toBe('1969-12-31 23:59:59.999999999 UTC');
  });

  it('two mtimes are told apart: to the second where that does, else with as many digits as it takes', () => {
    const base = at('2026-12-05T19:15:02Z');
    expect(mtimeChangeTexts(at('2026-01-15T08:30:00Z'), at('2020-06-01T12:00:00Z'))).toEqual([
      '2026-01-15 08:30:00 UTC',
      '2020-06-01 12:00:00 UTC',
    ]);
    // Two copies made within one second (regression: "19:15:02 UTC becomes 19:15:02 UTC").
    expect(mtimeChangeTexts(base + 120_000_000n, base + 480_000_000n)).toEqual([
      '2026-12-05 19:15:02.120 UTC',
      '2026-12-05 19:15:02.480 UTC',
    ]);
    expect(mtimeChangeTexts(base + 1_000n, base + 2_000n)).toEqual([
      '2026-12-05 19:15:02.000001 UTC',
      '2026-12-05 19:15:02.000002 UTC',
    ]);
    expect(mtimeChangeTexts(base + 1n, base + 2n)).toEqual([
      '2026-12-05 19:15:02.000000001 UTC',
      '2026-12-05 19:15:02.000000002 UTC',
    ]);
  });
});
