import { describe, expect, it } from 'vitest';
import {
  displayPath,
  isUnder,
  joinPath,
  jsonPath,
  parentOf,
  rebase,
  relativeTo,
} from '../../src/paths.js';

const b = (s: string) => Buffer.from(s);

describe('byte paths', () => {
  it('joins under the root and under a directory', () => {
    expect(joinPath(b('/'), b('x')).toString()).toBe('/x');
    expect(joinPath(b('/a'), b('x')).toString()).toBe('/a/x');
  });

  it('compares prefixes by bytes and component boundaries, not patterns', () => {
    expect(isUnder(b('/data/a_b/f'), b('/data/a_b'))).toBe(true);
    expect(isUnder(b('/data/axb/f'), b('/data/a_b'))).toBe(false);
    expect(isUnder(b('/data/a_bc'), b('/data/a_b'))).toBe(false);
    expect(isUnder(b('/data/a%b'), b('/data/a_b'))).toBe(false);
    expect(isUnder(b('/data/a_b'), b('/data/a_b'))).toBe(true);
    expect(isUnder(b('/anything'), b('/'))).toBe(true);
  });

  it('re-roots a path between a mount point and a filesystem root', () => {
    expect(relativeTo(b('/mnt/x/f'), b('/mnt/x')).toString()).toBe('/f');
    expect(relativeTo(b('/mnt/x'), b('/mnt/x')).toString()).toBe('/');
    expect(rebase(b('/data/sub'), b('/f')).toString()).toBe('/data/sub/f');
    expect(rebase(b('/'), b('/f')).toString()).toBe('/f');
    expect(rebase(b('/data'), b('/')).toString()).toBe('/data');
    expect(parentOf(b('/a/b')).toString()).toBe('/a');
    expect(parentOf(b('/a')).toString()).toBe('/');
  });

  it('shows non-UTF-8 bytes lossily and control characters escaped', () => {
    expect(displayPath(Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9]))).toBe('/caf\ufffd');
    expect(displayPath(b('/a\nb'))).toBe('/a\\nb');
  });

  it('adds a base64 sibling key only for names that are not UTF-8', () => {
    expect(jsonPath('path', b('/ok'))).toEqual({ path: '/ok' });
    const raw = Buffer.from([0x2f, 0xff, 0xfe]);
    const j = jsonPath('path', raw);
    expect(Buffer.from(j.path_b64!, 'base64').equals(raw)).toBe(true);
    expect(j.path).toBe('/\ufffd\ufffd');
  });
});
