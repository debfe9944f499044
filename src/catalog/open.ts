/**
 * Opening the catalog: locate it, refuse anything that is not ours or is from the future,
 * create it with private permissions, and migrate forward. Every refusal is a UserError
 * (exit 2, one line); nothing is written to a file we refused.
 */
import type { DB } from './db.js';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  accessSync,
  constants,
} from 'node:fs';
import { dirname } from 'node:path';
import { EXIT, UserError, describeErrno, errnoCode } from '../errors.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { missingDeferredIndexes, restoreDeferredIndexes } from './deferred-indexes.js';
import { openDatabase } from './native-handles.js';
import { readableCopy, walFilesPresent } from './read-only-fs.js';
import { sqliteCatalog, type SqliteCatalog } from './sqlite.js';
import { catalogPath } from './location.js';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(100);
    const n = readSync(fd, buf, 0, 100, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export interface OpenOptions {
  /** Commands that only read open the catalog read-only and never create it. */
  readonly readonly?: boolean;
}

/**
 * What openCatalog returns while the callers move to the port: the port and the handle.
 * Code outside src/catalog takes `Catalog` from port.ts, which has no handle.
 */
export type { SqliteCatalog as Catalog } from './sqlite.js';

/** Map an SQLite failure to a one-line refusal. */
function refuse(path: string, err: unknown): never {
  throw sqliteUserError(path, err) ?? err;
}

/** The one-line, actionable form of an SQLite error, or undefined when it is not one. */
export function sqliteUserError(path: string, err: unknown): UserError | undefined {
  const code = errnoCode(err) ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  if (
    code === 'SQLITE_NOTADB' ||
    code === 'SQLITE_CORRUPT' ||
    /malformed|not a database/i.test(msg)
  ) {
    return new UserError(
      `catalog ${path} is damaged or not a database (${msg}); restore it from a backup or point --catalog elsewhere`,
    );
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new UserError(
      `catalog ${path} is locked by another process (${msg}); try again when it is done`,
    );
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_IOERR')) {
    return new UserError(
      `cannot write catalog ${path} (${msg}); check the path's permissions and free space`,
    );
  }
  if (code === 'SQLITE_FULL') {
    return new UserError(
      `catalog ${path}: disk full (${msg}); free space and run again`,
      EXIT.partial,
    );
  }
  return code.startsWith('SQLITE_')
    ? new UserError(`catalog ${path}: ${msg}`, EXIT.partial)
    : undefined;
}

/** Absent, or present with its directory writable or not. */
type Existing = 'absent' | 'writable-dir' | 'read-only-dir';

function checkExisting(path: string, readonly: boolean): Existing {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'absent';
    throw new UserError(`cannot open catalog ${path}: ${describeErrno(err)}`);
  }
  if (st.isDirectory()) {
    throw new UserError(`catalog path ${path} is a directory; give a file path with --catalog`);
  }
  if (!st.isFile()) throw new UserError(`catalog path ${path} is not a regular file`);
  let header: Buffer;
  try {
    header = readHeader(path);
  } catch (err) {
    throw new UserError(`cannot read catalog ${path}: ${describeErrno(err)}`);
  }
  if (st.size === 0) {
    throw new UserError(
      `catalog ${path} is an empty file, not a hashall catalog; remove it or point --catalog elsewhere`,
    );
  }
  if (header.length < 100 || !header.subarray(0, 16).equals(SQLITE_MAGIC)) {
    throw new UserError(
      `${path} is not a hashall catalog (not an SQLite database); point --catalog elsewhere`,
    );
  }
  const appId = header.readUInt32BE(68);
  const userVersion = header.readUInt32BE(60);
  if (appId !== APPLICATION_ID) {
    throw new UserError(
      `${path} is an SQLite database but not a hashall catalog; point --catalog elsewhere`,
    );
  }
  if (userVersion > SCHEMA_VERSION) {
    throw new UserError(
      `catalog ${path} has schema version ${userVersion}, newer than this hashall understands (${SCHEMA_VERSION}); upgrade hashall`,
    );
  }
  // A writer needs the directory writable: SQLite's WAL mode keeps its shared-memory index in
  // a file beside the catalog. A reader manages without (read-only-fs.ts).
  try {
    if (!readonly) accessSync(path, constants.W_OK);
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    if (readonly) return 'read-only-dir';
    throw new UserError(
      `catalog ${path} is not writable (${describeErrno(err)}); hashall needs write access to it and its directory — copy it to a writable place`,
    );
  }
  return 'writable-dir';
}

/**
 * How long to wait for another process's write lock on the catalog before giving up with
 * "locked by another process": HASHALL_BUSY_TIMEOUT seconds, default 30.
 */
function busyTimeoutMs(): number {
  const v = process.env.HASHALL_BUSY_TIMEOUT;
  if (v === undefined || v === '') return 30_000;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) {
    throw new UserError(`HASHALL_BUSY_TIMEOUT=${v} is not a number of seconds`);
  }
  return Math.round(n * 1000);
}

function configure(db: DB): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs()}`);
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  // 16 MiB page cache: bounded (peak RSS is a target, DESIGN §6 T5); the OS page cache holds the
  // rest. 8 MiB saved ~8 MB of peak RSS but doubled a 1,000,000-file scan (148 s → 301 s).
  db.pragma('cache_size = -16384');
  db.pragma('temp_store = FILE');
}

function migrate(db: DB): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new UserError(
      `catalog schema version ${current} is newer than this hashall (${SCHEMA_VERSION}); upgrade hashall`,
    );
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      const step = MIGRATIONS[v]!;
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/**
 * A new catalog is built under a temporary name and linked into place complete: a crash
 * while creating it leaves no half-made file at the catalog's path.
 */
function createCatalog(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new UserError(
      `cannot create catalog ${path}: ${describeErrno(err)}; choose a writable place with --catalog`,
    );
  }
  const tmp = `${path}.creating-${process.pid}`;
  try {
    // Created by us with 0600 whatever the umask: file names are data.
    closeSync(openSync(tmp, 'wx', 0o600));
    const db = openDatabase(tmp, { fileMustExist: true });
    try {
      configure(db);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      migrate(db);
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
    try {
      linkSync(tmp, path);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err; // another process created it first: use theirs
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw (
      sqliteUserError(path, err) ??
      new UserError(
        `cannot create catalog ${path}: ${describeErrno(err)}; choose a writable place with --catalog`,
      )
    );
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      try {
        unlinkSync(tmp + suffix);
      } catch {
        // not there
      }
    }
  }
}

export function openCatalog(pathOption: string | undefined, opts: OpenOptions = {}): SqliteCatalog {
  const path = catalogPath(pathOption);
  const readonly = opts.readonly ?? false;
  const exists = checkExisting(path, readonly);
  if (exists === 'absent' && readonly) {
    throw new UserError(
      `no catalog at ${path}; run 'hashall scan DIR' first, or point --catalog at one`,
    );
  }
  if (exists === 'absent') createCatalog(path);
  if (exists === 'read-only-dir') {
    if (walFilesPresent(path)) {
      try {
        return sqliteCatalog(openFile(path, path, { readonly: true, mayMigrate: false }), path);
      } catch {
        // SQLite could not use them (or the catalog is older and needs migrating): a copy.
      }
    }
    return sqliteCatalog(
      openFile(readableCopy(path), path, { readonly: true, mayMigrate: true }),
      path,
    );
  }
  return sqliteCatalog(openFile(path, path, { readonly, mayMigrate: true }), path);
}

/** Open the catalog file `file` (`path` names it in messages), migrating it when allowed. */
function openFile(file: string, path: string, how: { readonly: boolean; mayMigrate: boolean }): DB {
  const { readonly } = how;
  let db: DB | undefined;
  try {
    db = openDatabase(file, { readonly, fileMustExist: true });
    configure(db);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new UserError(
        `catalog ${path} has schema version ${version}, newer than this hashall understands (${SCHEMA_VERSION}); upgrade hashall`,
      );
    }
    if (version < SCHEMA_VERSION) {
      if (!how.mayMigrate) {
        throw new UserError(
          `catalog ${path} has schema version ${version}, older than this hashall's (${SCHEMA_VERSION}), and cannot be migrated where it is`,
        );
      }
      if (readonly) {
        // An older catalog: migrate it (a write), then go on read-only.
        db.close();
        db = openDatabase(file, { fileMustExist: true });
        configure(db);
        migrate(db);
        db.close();
        db = openDatabase(file, { readonly, fileMustExist: true });
        configure(db);
      } else {
        migrate(db);
      }
    }
    // A first scan killed while it deferred the file indexes (deferred-indexes.ts): build them
    // before anything can query through them; a read-only command writes only these.
    if (missingDeferredIndexes(db).length > 0) {
      if (!how.mayMigrate) {
        throw new UserError(
          `catalog ${path} lacks its file indexes and cannot be repaired where it is`,
        );
      }
      if (readonly) {
        db.close();
        db = openDatabase(file, { fileMustExist: true });
        configure(db);
        restoreDeferredIndexes(db);
        db.close();
        db = openDatabase(file, { readonly, fileMustExist: true });
        configure(db);
      } else {
        restoreDeferredIndexes(db);
      }
    }
    // Touch the schema so corruption surfaces here rather than halfway through a command.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof UserError) throw err;
    return refuse(path, err);
  }
}
