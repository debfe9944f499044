/**
 * The bookkeeping of new inodes with several links (src/scan/linked-inodes.ts): a later path is
 * attached only with the identity that is read, gets the hashes once they are known, and the
 * number tracked at once is bounded, after which nothing more is tracked in that scan.
 * test/e2e/walk-hasher.test.ts drives the same through the walk's hashing on real files.
 */
import { describe, expect, it } from 'vitest';
import type { FileMeta } from '../../src/catalog/scan-port.js';
import type { HashJob } from '../../src/scan/hash-job.js';
import { LinkedInodes } from '../../src/scan/linked-inodes.js';

const meta = (inode: bigint, over: Partial<FileMeta> = {}): FileMeta => ({
  inode,
  nlink: 2,
  size: 10n,
  mtimeNs: 1_000n,
  ctimeNs: 2_000n,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  blocks: 8,
  ...over,
});

const jobOf = (m: FileMeta, path = `/t/${m.inode}`): HashJob => ({
  path: Buffer.from(path),
  inode: m.inode,
  size: m.size,
  mtimeNs: m.mtimeNs,
  ctimeNs: m.ctimeNs,
});

const digests = { prefix: Buffer.alloc(32, 1), sha256: Buffer.alloc(32, 2) };

describe('LinkedInodes', () => {
  it('attaches a later path with the same identity, and gives it the hashes once read', () => {
    const links = new LinkedInodes();
    const m = meta(7n);
    const l = links.add(1, jobOf(m), 3)!;
    expect(links.find(1, m)).toBe(l);
    // Another device's inode 7 is another inode.
    expect(links.find(2, m)).toBeUndefined();
    // Changed between the two lstats: not attached, and left to the stages after the walk.
    const changed = meta(7n, { mtimeNs: 1_001n });
    expect(links.find(1, changed)).toBe('other identity');
    expect(links.later('other identity')).toEqual({ kind: 'insert' });

    // Before the read: inserted plainly, its row id noted.
    expect(links.later(l)).toEqual({ kind: 'insert-link', linked: l });
    links.inserted(l, 10);
    links.inserted(l, 11);
    const stored: Parameters<LinkedInodes['result']>[2] = [];
    expect(links.result(l, digests, stored, [])).toBe(2);
    expect(stored.map((s) => [s.target.fileId, s.target.paths, s.target.inode])).toEqual([
      [10, 1, 7n],
      [11, 1, 7n],
    ]);
    // After: the third link's row is inserted with the hashes, and the inode is no longer
    // looked for (all three links met).
    const third = links.find(1, m);
    expect(third).toBe(l);
    expect(links.later(l)).toEqual({
      kind: 'insert-hashed',
      hashes: { prefix: digests.prefix, sha256: digests.sha256 },
    });
    expect(links.find(1, m)).toBeUndefined();
  });

  it('leaves an inode whose read failed to the stages after the walk', () => {
    const links = new LinkedInodes();
    const m = meta(8n);
    const l = links.add(1, jobOf(m), 2)!;
    links.inserted(l, 20);
    const stored: Parameters<LinkedInodes['result']>[2] = [];
    const read: Parameters<LinkedInodes['result']>[3] = [];
    expect(links.result(l, undefined, stored, read)).toBe(0);
    expect(stored).toEqual([]);
    expect(read).toEqual([]);
    expect(links.later(l)).toEqual({ kind: 'insert' });
  });

  it('marks an inode read for its prefix alone as read (its full read counts it once)', () => {
    const links = new LinkedInodes();
    const l = links.add(1, jobOf(meta(9n, { size: 1_000_000n })), 2)!;
    links.inserted(l, 30);
    const read: Parameters<LinkedInodes['result']>[3] = [];
    expect(links.result(l, { prefix: digests.prefix, sha256: undefined }, [], read)).toBe(1);
    expect(read).toEqual([{ deviceId: 1, inode: 9n }]);
  });

  it('tracks at most its bound at once, and nothing more in the scan once it was reached', () => {
    const links = new LinkedInodes(2);
    const a = links.add(1, jobOf(meta(1n)), 2)!;
    expect(links.add(1, jobOf(meta(2n)), 2)).toBeDefined();
    expect(links.add(1, jobOf(meta(3n)), 2)).toBeUndefined();
    // a's links all met and read: its entry is dropped, yet tracking stays off.
    links.later(a);
    links.result(a, digests, [], []);
    expect(links.find(1, meta(1n))).toBeUndefined();
    expect(links.add(1, jobOf(meta(4n)), 2)).toBeUndefined();
  });

  it('keeps its own copy of a path, not a slice of a shared buffer', () => {
    const links = new LinkedInodes();
    const shared = Buffer.from('/t/a/one/t/a/two');
    const m = meta(12n);
    const l = links.add(1, { ...jobOf(m), path: shared.subarray(0, 8) }, 2)!;
    expect(l.job.path.toString()).toBe('/t/a/one');
    expect(l.job.path.buffer).not.toBe(shared.buffer);
  });
});
