/**
 * One directory's listing, as the walk consumes it, whichever way it was read: the native
 * addon (native-list.ts: getdents64 + statx relative to the directory's fd, off the main thread)
 * or Node's fs (js-list.ts: readdir + lstat from inside the directory). Both open the directory
 * with O_NOFOLLOW, report the identity of what they opened, and stat entries without following
 * symlinks; both stat only what the walk looks at (regular files and directories).
 */

export type EntryKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'block' | 'char' | 'other';

/** An entry's lstat, in the units Node's `{ bigint: true }` stats use. */
export interface EntryStat {
  readonly kind: EntryKind;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly nlink: number;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly blocks: number;
}

export interface DirEntry {
  /** The name as bytes (names are not UTF-8 in general). */
  readonly name: Buffer;
  /** What the directory said the entry is (d_type). */
  readonly kind: EntryKind;
  /** The entry's lstat; throws the system error (code EACCES, ENOENT, …) when it failed. */
  stat(): EntryStat;
  /** What its lstat says it is (throws as stat() does), without building the whole stat. */
  statKind(): EntryKind;
}

/**
 * A listing read by index, with no object made per entry: what a rescan reads of a directory
 * the catalog already holds (scan/skim.ts), where one object per entry was most of the main
 * thread's work. Entry `i` is `entries[i]` of the same listing, field for field.
 */
export interface ListingView {
  readonly count: number;
  /** What the directory said entry `i` is (DirEntry.kind). */
  kindAt(i: number): EntryKind;
  /** What entry `i`'s lstat says it is; throws as DirEntry.statKind does. */
  statKindAt(i: number): EntryKind;
  /** Entry `i`'s name: a view, valid as long as the listing is kept. */
  nameAt(i: number): Buffer;
  /** Entry `i`'s lstat; throws as DirEntry.stat does. */
  statAt(i: number): EntryStat;
}

/** The view of a listing whose entries are objects already (the JS lister's). */
export function viewOfEntries(entries: readonly DirEntry[]): ListingView {
  return {
    count: entries.length,
    kindAt: (i) => entries[i]!.kind,
    statKindAt: (i) => entries[i]!.statKind(),
    nameAt: (i) => entries[i]!.name,
    statAt: (i) => entries[i]!.stat(),
  };
}

export interface DirIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

export type DirRead =
  | {
      readonly kind: 'listed';
      /** Every entry, as objects (the native listing makes them on first use). */
      readonly entries: readonly DirEntry[];
      /** The same entries read in place (ListingView). */
      readonly view: ListingView;
      /**
       * A digest of everything a rescan compares in this listing (the directory's identity, its
       * entries' names and kinds, and each stat()ed entry's stat or stat error), or undefined when
       * none could be made. Equal digests: equal listings (bench/NOTES.md).
       */
      readonly fingerprint: Buffer | undefined;
    }
  /** What was opened is not the directory expected (replaced or moved): it was not listed. */
  | { readonly kind: 'changed' }
  /** The directory could not be opened or listed (a Node-style system error). */
  | { readonly kind: 'failed'; readonly error: unknown };

/** Lists directories for one walk. */
export interface DirLister {
  /**
   * 'native': the addon lists on the calling thread, entries valid as long as kept. 'js': each listing
   * makes the directory the process's working directory, so one at a time, entries used at once.
   */
  readonly kind: 'native' | 'js';
  /**
   * Open `path` (a path below PATH_MAX, see reach.ts) with O_DIRECTORY | O_NOFOLLOW, check that
   * it is the directory `expect` names (what lstat showed when its parent was listed), and list
   * it. With the JS lister, entries are only valid until the next call.
   */
  list(path: Buffer, expect: DirIdentity): DirRead;
  /** Undo what listing changed in the process (the JS lister's working directory). */
  close(): void;
}

const S_IFMT = 0o170000;

export function kindOfMode(mode: number): EntryKind {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    case 0o060000:
      return 'block';
    case 0o020000:
      return 'char';
    default:
      return 'other';
  }
}
