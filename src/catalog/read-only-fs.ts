/**
 * Reading a catalog whose directory cannot be written (a read-only filesystem or bind mount,
 * a snapshot, a directory the user may not write).
 *
 * The catalog is in WAL mode, and SQLite reads a WAL database only through its -wal and -shm
 * files beside it: it creates them if they are missing, and cannot here. SQLite's way around
 * that (the `immutable=1` URI parameter) is not reachable: better-sqlite3 is built without URI
 * filenames. So:
 *   - when both files are present (a copy of a catalog a writer had open, or a live writer
 *     through another, writable mount of the filesystem), SQLite reads them read-only, with its
 *     index in private memory (SQLite ≥ 3.22);
 *   - when they are not (the catalog was closed cleanly: its whole content is in the file),
 *     the catalog (and a -wal left behind, if any) is copied into a private temporary
 *     directory, read there, and removed when the process exits. No writer can be working on
 *     a catalog without its -shm file, so the copy is consistent.
 * Nothing is ever written beside the catalog. A copy of an older catalog is migrated, the
 * original is left as it is.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError, describeErrno } from '../errors.js';

/** Can SQLite read this catalog in place, from its -wal and -shm files, without writing? */
export function walFilesPresent(path: string): boolean {
  return existsSync(`${path}-wal`) && existsSync(`${path}-shm`);
}

/**
 * A private copy of the catalog (and of a -wal left beside it) to read, in a 0700 temporary
 * directory removed when the process exits. Returns the copy's path.
 */
export function readableCopy(path: string): string {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'hashall-catalog-'));
  } catch (err) {
    throw new UserError(
      `catalog ${path} is in a directory hashall cannot write, and no private copy could be made to read it (${describeErrno(err)} in ${tmpdir()}); set TMPDIR to a writable directory`,
    );
  }
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', remove);
  const copy = join(dir, 'catalog.db');
  try {
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
  } catch (err) {
    remove();
    throw new UserError(
      `catalog ${path} is in a directory hashall cannot write, and copying it to ${dir} to read it failed (${describeErrno(err)}); free space there or set TMPDIR elsewhere`,
    );
  }
  return copy;
}
