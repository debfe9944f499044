/** The shared pieces of human output: counts with their noun, the style, the progress maths. */
import { describe, expect, it } from 'vitest';
import { countOf, formatCount } from '../../src/format.js';
import { makeStyle } from '../../src/cli/style.js';
import { bar, clock, eta, percent } from '../../src/cli/status-line.js';

describe('countOf', () => {
  it('is singular for one and plural otherwise, with thousands separators', () => {
    expect(countOf(1, 'file')).toBe('1 file');
    expect(countOf(0, 'file')).toBe('0 files');
    expect(countOf(13644, 'file')).toBe('13,644 files');
    expect(countOf(1, 'directory')).toBe('1 directory');
    expect(countOf(2, 'directory')).toBe('2 directories');
    expect(countOf(3, 'copy')).toBe('3 copies');
    expect(countOf(1n, 'inode')).toBe('1 inode');
    expect(countOf(2, 'HARDLINK action')).toBe('2 HARDLINK actions');
  });
});

describe('style', () => {
  it('draws emoji on a terminal and words elsewhere', () => {
    const tty = makeStyle(true);
    const plain = makeStyle(false);
    expect(tty.status('ok', 'Scan complete')).toBe('✅ Scan complete');
    expect(plain.status('ok', 'Scan complete')).toBe('ok Scan complete');
    expect(plain.status('failed', 'x')).toBe('FAILED x');
    expect(plain.status('warning', 'x')).toBe('warning: x');
    expect(tty.deco('📊', 'Devices')).toBe('📊 Devices');
    expect(plain.deco('📊', 'Devices')).toBe('Devices');
  });
});

describe('progress maths', () => {
  it('percent never passes 100 and shows 100 only when done', () => {
    expect(percent(0, 0)).toBe('  0%');
    expect(percent(999, 1000)).toBe(' 99%');
    expect(percent(1000, 1000)).toBe('100%');
    expect(percent(13644, 11617)).toBe('100%');
    expect(bar(1.5, 4)).toBe('[████]');
    expect(bar(0.5, 4)).toBe('[██░░]');
  });

  it('gives a time left only once a rate can mean something', () => {
    expect(eta(50, 100, 1000)).toBeUndefined(); // too early
    expect(eta(0, 100, 10_000)).toBeUndefined(); // nothing done yet
    expect(eta(100, 100, 10_000)).toBeUndefined(); // done
    expect(eta(50, 100, 10_000)).toBe('0:10');
    expect(clock(3_725_000)).toBe('1:02:05');
  });
});

describe('formatCount', () => {
  it('groups integers exactly as toLocaleString(en-US) does', () => {
    const values = [0, 7, 999, 1000, 12_345, 999_999, 1_000_000, -1, -1000, -1_234_567];
    for (let p = 1; p < 2 ** 53; p *= 7) values.push(p, p - 1, -p);
    values.push(Number.MAX_SAFE_INTEGER, 1.5, 1e21);
    for (const v of values) expect(formatCount(v)).toBe(v.toLocaleString('en-US'));
    expect(formatCount(572_649_039n)).toBe('572,649,039');
  });
});
