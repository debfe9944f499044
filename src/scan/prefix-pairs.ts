/**
 * Which new inodes the walk's hashing reads whole (DESIGN §6 T1): two new inodes of one size
 * whose prefixes (and suffixes, past 64 KiB) agree are candidates for the full SHA-256, exactly
 * as the full stage after the walk would find them (catalog/hashing.ts, PREFIX_COLLISION; every
 * read of this scan gives a suffix where the size has one, so none pairs by its absence). Reading them while the walk
 * goes on overlaps the largest reads of a first scan with it: on the reference tree, 334
 * inodes and 1.27 GB were read by the full stage alone after the walk, both hashing workers
 * busy and the walk and the catalog idle. The stage stays the authority: it reads what this
 * does not see (a pair with a row of an earlier scan, an inode with several links, a read cut
 * short by a stop).
 */
import type { ReadDigests } from '../catalog/scan-port.js';
import type { HashJob } from './hash-job.js';

/** A new inode read in the prefix stage, its row inserted: what its full read needs. */
export interface PrefixRead {
  readonly deviceId: number;
  readonly fileId: number;
  /** The job of its prefix read: the path and the identity the full read must still find. */
  readonly job: HashJob;
}

/** Marks a (size, prefix, suffix) that two inodes share: every further one is a candidate too. */
const SHARED = null;

export class PrefixPairs {
  private readonly seen = new Map<string, PrefixRead | typeof SHARED>();

  /**
   * A prefix read of a new inode: the reads whose full hash is wanted now — none (the first
   * of its size and edges), this one and the first (the second), or this one (any after).
   */
  add(read: PrefixRead, d: ReadDigests): readonly PrefixRead[] {
    const key = `${read.job.size}:${d.prefix.toString('latin1')}:${d.suffix?.toString('latin1') ?? ''}`;
    const first = this.seen.get(key);
    if (first === undefined) {
      this.seen.set(key, read);
      return [];
    }
    if (first === SHARED) return [read];
    // The same inode read twice (another name of it) is no pair.
    if (first.deviceId === read.deviceId && first.job.inode === read.job.inode) return [];
    this.seen.set(key, SHARED);
    return [first, read];
  }
}
