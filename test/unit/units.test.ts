import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/units.js';

describe('parseSize', () => {
  it('reads decimal and binary units, case-insensitively, and bare bytes', () => {
    expect(parseSize('1GB', '--x')).toBe(1_000_000_000);
    expect(parseSize('1gb', '--x')).toBe(1_000_000_000);
    expect(parseSize('500MiB', '--x')).toBe(500 * 1024 * 1024);
    expect(parseSize('10G', '--x')).toBe(10 * 1024 ** 3);
    expect(parseSize('10k', '--x')).toBe(10_240);
    expect(parseSize('4096', '--x')).toBe(4096);
    expect(parseSize('4096B', '--x')).toBe(4096);
    expect(parseSize('0', '--x')).toBe(0);
    expect(parseSize(' 2 TB ', '--x')).toBe(2e12);
  });

  it('takes fractions exactly, rounding a minimum up', () => {
    expect(parseSize('1.5GB', '--x')).toBe(1_500_000_000);
    expect(parseSize('1.5k', '--x')).toBe(1536);
    expect(parseSize('.5KiB', '--x')).toBe(512);
    expect(parseSize('0.0001KB', '--x')).toBe(1);
    expect(parseSize('0.0001KB', '--x', 'down')).toBe(0);
  });

  it('refuses anything else in one line naming the option', () => {
    for (const bad of ['', 'GB', '1 GBytes', '-1', '1e9', '1,5GB', '0x10', '1.2.3', '.', 'ten']) {
      expect(() => parseSize(bad, '--min-savings')).toThrow(/^--min-savings: '.*' is not a size/);
    }
    expect(() => parseSize('99999PB', '--min-savings')).toThrow(/too large/);
  });
});
