/**
 * The executor's verified directory fds, kept open: the actions of a group share directories,
 * and a directory is opened relative to its cached parent (one open instead of a walk from '/').
 *
 * Bounded: at most `capacity` directories beyond the pinned ones stay open, at every moment —
 * the cache is trimmed after each directory it opens, not only between batches (a dry run has
 * no batches: it once kept every directory of a 24,000-directory tree open and ran out of
 * descriptors). A directory a verified action names files through (/proc/self/fd/N/NAME) is
 * pinned until its batch is applied, and is never closed while pinned.
 *
 * Within a batch a directory stays the one we walked even if its path is swapped: that is the
 * point. A cached directory is checked again (at most every RECHECK_MS) to still be what its
 * path names: one moved away mid-run is reopened by path (and its actions fail as stale)
 * rather than worked in at its new place, where the journal's paths would not lead recovery.
 */
import { VerifiedDir } from './safe-ops.js';
import { baseName, byteKey, parentOf } from '../paths.js';

/** How long a cached directory fd is trusted before its path is checked again. */
const RECHECK_MS = 1000;

export class DirCache {
  /** Least recently used first. */
  private readonly entries = new Map<string, { d: VerifiedDir; checkedAt: number }>();
  /** Replaced in the cache (their path names another directory now), closed once unpinned. */
  private retired: VerifiedDir[] = [];
  private readonly pins = new Map<VerifiedDir, number>();
  /** Entries whose directory is pinned: they do not count against the capacity. */
  private pinnedEntries = 0;

  constructor(private readonly capacity: number) {}

  /** The verified open directory `abs` (absolute), from the cache or opened now. */
  get(abs: Buffer): VerifiedDir {
    const key = byteKey(abs);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      const now = Date.now();
      if (now - hit.checkedAt <= RECHECK_MS || hit.d.stillAt()) {
        if (now - hit.checkedAt > RECHECK_MS) hit.checkedAt = now;
        this.entries.set(key, hit); // most recent last
        return hit.d;
      }
      if (this.pins.has(hit.d)) this.pinnedEntries--;
      this.retired.push(hit.d);
    }
    let d: VerifiedDir;
    if (abs.length <= 1) d = VerifiedDir.open(Buffer.from(abs));
    else {
      // The parent is pinned while its child is opened: trimming cannot close it under us.
      const parent = this.get(parentOf(abs));
      this.pin(parent);
      try {
        d = parent.openChild(baseName(abs));
      } finally {
        this.unpin(parent);
      }
    }
    this.entries.set(key, { d, checkedAt: Date.now() });
    this.trim();
    return d;
  }

  /** Keep `d` open until as many unpin calls. */
  pin(d: VerifiedDir): void {
    const n = this.pins.get(d) ?? 0;
    if (n === 0 && this.cached(d)) this.pinnedEntries++;
    this.pins.set(d, n + 1);
  }

  unpin(d: VerifiedDir): void {
    const n = this.pins.get(d) ?? 0;
    if (n > 1) {
      this.pins.set(d, n - 1);
      return;
    }
    if (n === 1 && this.cached(d)) this.pinnedEntries--;
    this.pins.delete(d);
  }

  private cached(d: VerifiedDir): boolean {
    return this.entries.get(byteKey(d.abs))?.d === d;
  }

  /** Close retired directories no longer pinned, and the least recently used beyond capacity. */
  trim(): void {
    if (this.retired.length > 0) {
      this.retired = this.retired.filter((d) => {
        if (this.pins.has(d)) return true;
        d.close();
        return false;
      });
    }
    // A pinned entry is moved to the end (it is in use); each entry is looked at once.
    let budget = this.entries.size;
    for (const [key, e] of this.entries) {
      if (this.entries.size - this.pinnedEntries <= this.capacity || budget-- <= 0) break;
      this.entries.delete(key);
      if (this.pins.has(e.d)) this.entries.set(key, e);
      else e.d.close();
    }
  }

  /** Close everything (pins included: call when no action holds a directory any more). */
  closeAll(): void {
    for (const d of this.retired.splice(0)) d.close();
    for (const e of this.entries.values()) e.d.close();
    this.entries.clear();
    this.pins.clear();
    this.pinnedEntries = 0;
  }
}
