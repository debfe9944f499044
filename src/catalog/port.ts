/**
 * The catalog as the rest of hashall sees it: one typed port, grouped by concern, that a
 * backend implements. SQLite (sqlite.ts) is the implementation today; PostgreSQL is next
 * (DESIGN §9). Outside src/catalog nothing holds a database handle or writes SQL.
 *
 * Why the port is asynchronous (README "Architecture", DESIGN notes): a network database's
 * driver answers through the event loop. A synchronous port would force such a backend to block
 * the process on every call (a worker plus Atomics.wait), serialising the walk, the hash
 * workers and the database. So every operation returns a promise, even where SQLite answers
 * at once; its cost is one microtask per operation, and operations are shaped to be few: a
 * directory's listing, a page of jobs, a batch of outcomes — never one call per file.
 *
 * Transactions belong to the catalog: a caller asks for a unit of work and never issues BEGIN.
 * Each process uses one connection, so every operation issued while a unit of work is open
 * belongs to it; callers do not start unrelated catalog work concurrently with one.
 */
import type { ScanCatalog } from './scan-port.js';
import type { ExecuteCatalog } from './execute-port.js';
import type { PlanCatalog } from './plan-port.js';
import type { QueryCatalog } from './query-port.js';
import type { HostCatalog } from './host-port.js';
import type { DeviceMountCatalog } from './device-mount-port.js';

export interface OwnFiles {
  readonly dir: string;
  readonly names: readonly string[];
}

export interface Catalog
  extends ScanCatalog, PlanCatalog, ExecuteCatalog, QueryCatalog, HostCatalog, DeviceMountCatalog {
  /** Where the catalog is, for messages: a file path (a database URL never shows a password). */
  readonly location: string;
  /**
   * Where executor runs of this catalog write their logs: a directory, and a tag that keeps
   * this catalog's logs apart from another's in the same directory ('' for the default one).
   */
  readonly runLogs: { readonly dir: string; readonly tag: string };
  /**
   * The files the catalog itself keeps on this machine: a SQLite catalog's database and the
   * files SQLite keeps beside it (WAL, shared memory, rollback journal), by directory and
   * names; none for PostgreSQL. A scan never catalogues them: they change while it runs, and a
   * plan must never offer to replace the live catalog with a link to a copy of it.
   */
  readonly ownFiles: OwnFiles | undefined;
  /**
   * fn as one write transaction: committed when its promise resolves, rolled back when it
   * rejects. Called inside another unit of work, it joins that one.
   */
  unitOfWork<T>(fn: () => Promise<T>): Promise<T>;
  /** Close the connection; a command closes what it opened when it ends, however it ends. */
  close(): Promise<void>;
}
