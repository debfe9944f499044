/**
 * `hashall catalog copy`: a whole catalog — files, devices, hosts, scans, plans and their
 * history — moved verbatim from one catalog to another, SQLite to PostgreSQL or back (ids
 * kept, so plans still name their actions and files). Each table is read a page at a time by
 * its primary key from one snapshot of the source and written into one transaction of the
 * destination: memory is a page, whatever the catalog's size, and an interrupted copy leaves
 * the destination as it was (a new SQLite file is built under a temporary name and linked into
 * place only when complete).
 *
 * The destination must be empty: merging two catalogs is not a copy. In-flight state is not
 * copied: a running or killed scan, or an execute or undo with journal entries, must be
 * finished on the source first (the host that ran it recovers it); the executor lock is never
 * copied (it names a live process).
 */
import { linkSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EXIT, UserError, errnoCode, describeErrno } from '../../errors.js';
import { failpoint, failpointDelayMs } from '../../failpoint.js';
import { catalogBackend } from '../backend.js';
import { catalogPath } from '../location.js';
import { pgFailure } from '../pg/failure.js';
import {
  insertionOrder,
  TRANSIENT_TABLES,
  TRIGGER_WRITTEN,
  type CopySide,
  type CopyValue,
  type TableInfo,
} from './side.js';
import { sqliteCopySide } from './sqlite-side.js';
import { checkCopyable } from './checks.js';

/** Rows per page: a page of file rows is well under a megabyte. */
export const COPY_PAGE_ROWS = 2000;

export interface CopyProgress {
  readonly table: string;
  readonly copied: number;
  readonly total: number;
}

export interface CopyResult {
  readonly from: string;
  readonly to: string;
  readonly tables: readonly { readonly name: string; readonly rows: number }[];
  readonly rows: number;
}

export interface CopyRequest {
  readonly from: string;
  readonly to: string;
  readonly pageRows?: number;
  readonly onProgress?: (p: CopyProgress) => void;
  /** Asked between pages: true stops the copy, which then leaves the destination untouched. */
  readonly stopRequested?: () => boolean;
}

type Address =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgresql'; readonly url: string };

function address(given: string, flag: string): Address {
  if (given === '') throw new UserError(`${flag} needs a catalog file or a postgresql:// URL`);
  const b = catalogBackend(given);
  return b.kind === 'postgresql'
    ? { kind: 'postgresql', url: b.url }
    : { kind: 'sqlite', path: catalogPath(given) };
}

async function openSide(
  a: Address,
  role: 'source' | 'destination',
  path?: string,
): Promise<CopySide> {
  if (a.kind === 'sqlite') return sqliteCopySide(path ?? a.path, role);
  // The driver and the PostgreSQL modules load only when a URL asks for them.
  const { pgCopySide } = await import('./pg-side.js');
  return pgCopySide(a.url);
}

/** Both ends hold the same tables with the same columns (both migrated by this program). */
function pairTables(
  src: readonly TableInfo[],
  dst: readonly TableInfo[],
  where: string,
): TableInfo[] {
  const byName = new Map(src.map((t) => [t.name, t]));
  const names = (ts: readonly TableInfo[]) =>
    ts
      .map((t) => t.name)
      .sort()
      .join(', ');
  if (byName.size !== dst.length || dst.some((t) => !byName.has(t.name))) {
    throw new Error(
      `catalog copy: the two catalogs' tables differ (${names(src)} / ${names(dst)}) at ${where}`,
    );
  }
  return dst.map((d) => {
    const s = byName.get(d.name)!;
    const cols = new Map(s.columns.map((c) => [c.name, c]));
    if (
      cols.size !== d.columns.length ||
      d.columns.some((c) => cols.get(c.name)?.kind !== c.kind)
    ) {
      throw new Error(`catalog copy: table ${d.name} has other columns in the two catalogs`);
    }
    // Read the source's columns in the destination's order: a row moves as it is.
    return { ...d, columns: d.columns };
  });
}

async function copyTable(
  src: CopySide,
  dst: CopySide,
  t: TableInfo,
  req: CopyRequest,
  pageRows: number,
): Promise<number> {
  const total = await src.count(t);
  // Rows the destination's triggers wrote while the file rows went in: the source's replace them.
  if (TRIGGER_WRITTEN.has(t.name)) await dst.clear(t);
  const keyAt = t.primaryKey.map((k) => t.columns.findIndex((c) => c.name === k));
  const selfAt = t.selfReferences.map((k) => t.columns.findIndex((c) => c.name === k));
  let after: CopyValue[] | undefined;
  let copied = 0;
  req.onProgress?.({ table: t.name, copied, total });
  for (;;) {
    if (req.stopRequested?.())
      throw new UserError(
        'catalog copy interrupted; the destination was left as it was',
        EXIT.interrupted,
      );
    const rows = await src.page(t, after, pageRows);
    if (rows.length === 0) break;
    // A row may point to a row of its own table that comes later: those columns are set
    // once every row is in (below).
    await dst.insert(
      t,
      selfAt.length === 0
        ? rows
        : rows.map((r) => r.map((v, i) => (selfAt.includes(i) ? null : v))),
    );
    copied += rows.length;
    failpoint('copy-page');
    const pause = failpointDelayMs('copy-page');
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    after = keyAt.map((i) => rows[rows.length - 1]![i]!);
    req.onProgress?.({ table: t.name, copied, total });
  }
  for (const [n, col] of t.selfReferences.entries()) {
    let key: CopyValue[] | undefined;
    for (;;) {
      const rows = await src.page(t, key, pageRows);
      if (rows.length === 0) break;
      const pairs = rows
        .filter((r) => r[selfAt[n]!] !== null)
        .map((r) => [r[keyAt[0]!]!, r[selfAt[n]!]!] as const);
      await dst.patch(t, col, pairs);
      key = keyAt.map((i) => rows[rows.length - 1]![i]!);
    }
  }
  await dst.resetIds(t);
  const landed = await dst.count(t);
  if (landed !== copied) {
    throw new Error(`catalog copy: table ${t.name} holds ${landed} rows after copying ${copied}`);
  }
  return copied;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw new UserError(`cannot use catalog ${path}: ${describeErrno(err)}`);
  }
}

/** The complete new catalog takes its name; one created there meanwhile is never replaced. */
function linkInto(building: string, path: string): void {
  try {
    linkSync(building, path);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') {
      throw new UserError(
        `catalog copy: ${path} was created by someone else during the copy; it was left alone, and the copy discarded`,
      );
    }
    throw new UserError(`catalog copy: cannot create ${path}: ${describeErrno(err)}`);
  }
}

/** Half-built copies left by a copy that was killed (its process is gone): litter, removed. */
function removeKilledBuilds(path: string): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.copying-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.startsWith(prefix)
      ? /^(\d+)(?:-wal|-shm|-journal)?$/.exec(name.slice(prefix.length))
      : null;
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      // gone already
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) !== 'ESRCH';
  }
}

function removeBuilding(building: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    try {
      unlinkSync(building + suffix);
    } catch {
      // not there
    }
  }
}

export async function copyCatalog(req: CopyRequest): Promise<CopyResult> {
  try {
    return await copyBetween(req);
  } catch (err) {
    // A PostgreSQL end that failed part-way: one line naming it (never its password).
    for (const a of [req.to, req.from]) {
      const b = catalogBackend(a);
      const line = b.kind === 'postgresql' ? pgFailure(b.url, err) : undefined;
      if (line) throw line;
    }
    throw err;
  }
}

async function copyBetween(req: CopyRequest): Promise<CopyResult> {
  const from = address(req.from, '--from');
  const to = address(req.to, '--to');
  const same =
    (from.kind === 'sqlite' && to.kind === 'sqlite' && from.path === to.path) ||
    (from.kind === 'postgresql' && to.kind === 'postgresql' && from.url === to.url);
  if (same) throw new UserError('catalog copy: --from and --to name the same catalog');
  const pageRows = req.pageRows ?? COPY_PAGE_ROWS;
  // A new SQLite destination is built beside its final name, linked into place when complete.
  const building =
    to.kind === 'sqlite' && !exists(to.path) ? `${to.path}.copying-${process.pid}` : undefined;
  if (building && to.kind === 'sqlite') removeKilledBuilds(to.path);
  const src = await openSide(from, 'source');
  let dst: CopySide | undefined;
  try {
    dst = await openSide(to, 'destination', building);
    const toLocation = to.kind === 'sqlite' ? to.path : dst.location;
    const tables = insertionOrder(pairTables(await src.tables(), await dst.tables(), toLocation));
    const copied = tables.filter((t) => !TRANSIENT_TABLES.has(t.name));
    await src.beginRead();
    // Checked inside the write transaction: nothing lands in the destination in between.
    await dst.beginWrite();
    const out: { name: string; rows: number }[] = [];
    try {
      await checkCopyable({ src, dst, tables: copied, toLocation });
      for (const t of copied) {
        out.push({ name: t.name, rows: await copyTable(src, dst, t, req, pageRows) });
      }
      await dst.end();
    } catch (err) {
      await dst.abort().catch(() => undefined);
      throw err;
    }
    await src.end();
    const closing = dst;
    dst = undefined;
    await closing.close();
    if (building) linkInto(building, to.kind === 'sqlite' ? to.path : '');
    return {
      from: src.location,
      to: toLocation,
      tables: out,
      rows: out.reduce((n, t) => n + t.rows, 0),
    };
  } finally {
    await src.abort().catch(() => undefined);
    await src.close().catch(() => undefined);
    await dst?.close().catch(() => undefined);
    if (building) removeBuilding(building);
  }
}
