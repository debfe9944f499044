/**
 * The rescan's table of directory paths (src/scan/path-table.ts): every path added gets one
 * number, found again by its exact bytes (non-UTF-8 bytes and prefixes of one another are
 * different paths), across the table's and the arena's growth.
 */
import { describe, expect, it } from 'vitest';
import { PathTable } from '../../src/scan/path-table.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('PathTable', () => {
  it('numbers each path once and finds it by its exact bytes', () => {
    const t = new PathTable();
    const paths = [
      Buffer.from('/'),
      Buffer.from('/a'),
      Buffer.from('/a/b'),
      Buffer.from('/a-b'),
      Buffer.from([0x2f, 0xff, 0xfe]), // not UTF-8
      Buffer.from([0x2f, 0xff]),
    ];
    const numbers = paths.map((p) => t.addHex(hex(p)));
    expect(numbers).toEqual([0, 1, 2, 3, 4, 5]);
    paths.forEach((p, i) => expect(t.get(p)).toBe(i));
    // Added again: the same number, nothing new.
    expect(t.addHex(hex(paths[2]!))).toBe(2);
    expect(t.size).toBe(paths.length);
    for (const missing of ['/a/', '/b', '/a/b/c', ''])
      expect(t.get(Buffer.from(missing))).toBe(undefined);
    expect(t.get(Buffer.from([0x2f, 0xfe, 0xff]))).toBe(undefined);
  });

  it('keeps every path through growth (many paths, long ones)', () => {
    const t = new PathTable();
    const long = 'x'.repeat(3000);
    const path = (i: number): Buffer => Buffer.from(`/d${i % 97}/${i % 7 === 0 ? long : ''}${i}`);
    const n = 20_000;
    for (let i = 0; i < n; i++) expect(t.addHex(hex(path(i)))).toBe(i);
    expect(t.size).toBe(n);
    for (let i = 0; i < n; i++) expect(t.get(path(i))).toBe(i);
    expect(t.get(path(n))).toBe(undefined);
  });
});
