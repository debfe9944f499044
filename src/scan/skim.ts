/**
 * What the walk needs of a directory whose listing the catalog already holds (its stored
 * fingerprint is this listing's, known-listings.ts): how many regular files it has, which
 * entries are skipped, and its subdirectories, to walk on. No file's name is looked at and no
 * file's stat is decoded: that was most of the walk's JavaScript on an unchanged rescan.
 *
 * The result must be what the full walk (walker.ts) would make of the same listing, or
 * undefined where it might not be, and the walk then takes the full path. The full walk keeps
 * (leaves as they are) a temporary link, an entry in error, an excluded entry and a mount
 * point, and passes no fingerprint when it kept anything; so a listing that matches a stored
 * fingerprint had none of the first two when that fingerprint was stored, and the fingerprint
 * covers every name and every stat error (files' names are not looked at for that reason; the
 * names of the few other entries are). Exclusions depend on the command line, not the
 * listing: the walk does not skim when there are any. Mount points depend on the mount table:
 * checked here, as is every subdirectory's name.
 */
import type { EntryKind, EntryStat, ListingView } from '../fs/dir-list.js';
import { hasTempPrefix } from '../fs/temp-name.js';

/** Entries never opened: by type, and the catalog's own files (./own-files.ts). */
export type SkipKind = 'symlink' | 'fifo' | 'socket' | 'device' | 'other' | 'catalog';

export function skipKind(kind: EntryKind): SkipKind {
  switch (kind) {
    case 'symlink':
    case 'fifo':
    case 'socket':
      return kind;
    case 'block':
    case 'char':
      return 'device';
    default:
      return 'other';
  }
}

export interface Skimmed {
  /** Regular files (the full walk's `files`). */
  readonly files: number;
  /** Subdirectories on the directory's filesystem, with their lstat. */
  readonly subdirs: readonly { readonly name: Buffer; readonly stat: EntryStat }[];
  /** Entries the full walk counts as skipped. */
  readonly skipped: readonly SkipKind[];
}

export interface SkimParams {
  /** The listing, read in place: no object is made for a file. */
  readonly view: ListingView;
  /** The listed directory's st_dev: a subdirectory on another is a mount point. */
  readonly stDev: bigint;
  /** Whether a subdirectory (by name) is a mount point of the mount table. */
  readonly isMountPoint: (name: Buffer) => boolean;
}

/** The listing's files counted and subdirectories kept, or undefined: take the full path. */
export function skimListing({ view, stDev, isMountPoint }: SkimParams): Skimmed | undefined {
  let files = 0;
  const subdirs: { name: Buffer; stat: EntryStat }[] = [];
  const skipped: SkipKind[] = [];
  for (let i = 0; i < view.count; i++) {
    const dtype = view.kindAt(i);
    if (dtype === 'file') {
      let kind: EntryKind;
      try {
        kind = view.statKindAt(i);
      } catch {
        return undefined;
      }
      // As the full walk: lstat is trusted over d_type; a directory there is not walked.
      if (kind === 'file') files++;
      else if (kind !== 'dir') skipped.push(skipKind(kind));
    } else if (dtype === 'dir') {
      const name = view.nameAt(i);
      if (hasTempPrefix(name)) return undefined;
      let st: EntryStat;
      try {
        st = view.statAt(i);
      } catch {
        return undefined;
      }
      if (st.kind !== 'dir') {
        skipped.push(skipKind(st.kind));
        continue;
      }
      if (st.dev !== stDev || isMountPoint(name)) return undefined;
      subdirs.push({ name, stat: st });
    } else {
      if (hasTempPrefix(view.nameAt(i))) return undefined;
      skipped.push(skipKind(dtype));
    }
  }
  return { files, subdirs, skipped };
}
