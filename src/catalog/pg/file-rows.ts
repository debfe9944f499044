/**
 * New file rows of a PostgreSQL scan, written behind the walk (write-behind.ts decides when):
 * each row has its id at once (id-blocks.ts) and waits here; a batch goes to the server by one
 * multi-row statement over binary arrays (binary-array.ts), gathered from many directories.
 * The walk's hashing may give a buffered row its hashes before it is written (`setHashes`):
 * one insert instead of an insert and an update.
 *
 * Two scans of overlapping roots can both find a path without a row and insert it; the second
 * insert keeps the row already there (ON CONFLICT DO NOTHING), as SQLite's insertFile does, and
 * the id it had handed out is mapped to that row (`resolve`) for the hash results written
 * later through this connection. A row whose directory this transaction inserted cannot meet
 * one (no other transaction sees that directory, so none can name it), and most of a first
 * scan's rows are such: they go by a plain INSERT, which spares the server the speculative
 * insertion of ON CONFLICT and the ids sent back (0.15–0.25 s of the 1.4–1.7 s it took to
 * insert the reference tree's 100,000 rows, measured alone).
 */
import type pg from 'pg';
import type { NewFileRow } from '../scan-port.js';
import { byteaArray, int8Array } from './binary-array.js';

/**
 * How a row is inserted: `plain` below a directory this transaction inserted (no other row can
 * hold its path); `keep-existing` elsewhere (another scan's row for the path wins).
 */
export type RowInsert = 'plain' | 'keep-existing';

export interface BufferedRow {
  readonly id: number;
  readonly scanId: number;
  readonly row: NewFileRow;
  readonly insert: RowInsert;
  prefix: Buffer | null;
  sha256: Buffer | null;
}

/** What a hash result must still match to land on a buffered row (the hashed identity). */
export interface BufferedIdentity {
  readonly deviceId: number;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export class FileRowBuffer {
  private rows: BufferedRow[] = [];
  private byId = new Map<number, BufferedRow>();
  private devices = new Set<number>();
  /** Ids handed out whose path another scan had inserted first: the row that holds it. */
  private readonly remapped = new Map<number, number>();

  /**
   * Buffer rows of scan `scanId` under the ids given (one per row, in order), each inserted as
   * `insert` says for its directory.
   */
  add(
    scanId: number,
    rows: readonly NewFileRow[],
    ids: readonly number[],
    insert: (dirId: number) => RowInsert,
  ): void {
    rows.forEach((row, i) => {
      const b: BufferedRow = {
        id: ids[i]!,
        scanId,
        row,
        insert: insert(row.dirId),
        prefix: row.hashes?.prefix ?? null,
        sha256: row.hashes?.sha256 ?? null,
      };
      this.rows.push(b);
      this.byId.set(b.id, b);
      this.devices.add(row.deviceId);
    });
  }

  get size(): number {
    return this.rows.length;
  }

  /** Whether rows of this device wait in the buffer. */
  holdsDevice(deviceId: number): boolean {
    return this.devices.has(deviceId);
  }

  /**
   * Give a buffered row its hashes, if it is still buffered and has the hashed identity;
   * false otherwise (the caller updates the written row).
   */
  setHashes(
    fileId: number,
    id: BufferedIdentity,
    hashes: { readonly prefix: Buffer; readonly sha256: Buffer | undefined },
  ): boolean {
    const b = this.byId.get(fileId);
    if (!b) return false;
    const m = b.row.meta;
    if (
      b.row.deviceId !== id.deviceId ||
      m.inode !== id.inode ||
      m.size !== id.size ||
      m.mtimeNs !== id.mtimeNs ||
      m.ctimeNs !== id.ctimeNs
    )
      return false;
    b.prefix = hashes.prefix;
    b.sha256 = hashes.sha256 ?? b.sha256;
    return true;
  }

  /** The row an id handed out stands for (valid once the batch that held it is written). */
  resolve(fileId: number): number {
    return this.remapped.get(fileId) ?? fileId;
  }

  /** Hand the buffered rows over, in order, for writing; the buffer is empty after. */
  take(): BufferedRow[] {
    const rows = this.rows;
    this.rows = [];
    this.byId = new Map();
    this.devices = new Set();
    return rows;
  }

  /**
   * Write taken rows, in order, by a statement per kind of insert; note the rows another scan
   * inserted first.
   */
  async write(client: pg.Client, rows: readonly BufferedRow[]): Promise<void> {
    const plain = rows.filter((x) => x.insert === 'plain');
    if (plain.length > 0) await client.query(INSERT + ' ' + FROM_ROWS, rowParams(plain));
    const elsewhere = plain.length === rows.length ? [] : rows.filter((x) => x.insert !== 'plain');
    if (elsewhere.length > 0) await this.writeKeepingExisting(client, elsewhere);
  }

  private async writeKeepingExisting(
    client: pg.Client,
    rows: readonly BufferedRow[],
  ): Promise<void> {
    const r = await client.query<{ id: string }>(
      `${INSERT} ${FROM_ROWS} ON CONFLICT (dir_id, name) DO NOTHING RETURNING id`,
      rowParams(rows),
    );
    if (r.rows.length === rows.length) return;
    // Paths another scan inserted since our merge found them without a row: theirs is kept.
    const written = new Set(r.rows.map((row) => Number(row.id)));
    const lost = rows.filter((x) => !written.has(x.id));
    const kept = await client.query<{ id: string; ord: string }>(
      `SELECT f.id, n.ord FROM unnest($1::int8[], $2::bytea[]) WITH ORDINALITY AS n(dir_id, name, ord)
         JOIN files f ON f.dir_id = n.dir_id AND f.name = n.name`,
      [int8Array(lost.map((x) => x.row.dirId)), byteaArray(lost.map((x) => x.row.name))],
    );
    for (const k of kept.rows) this.remapped.set(lost[Number(k.ord) - 1]!.id, Number(k.id));
  }
}

const INSERT = `INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode,
                                   uid, gid, blocks, prefix_hash, sha256, status, first_seen_scan,
                                   changed_scan)`;
const FROM_ROWS = `SELECT id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid,
         blocks, prefix_hash, sha256, 'active', scan_id, scan_id
    FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::int8[], $6::int8[],
                $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[],
                $13::int8[], $14::bytea[], $15::bytea[], $16::int8[])
         WITH ORDINALITY AS n(id, device_id, dir_id, name, inode, nlink, size, mtime_ns,
                              ctime_ns, mode, uid, gid, blocks, prefix_hash, sha256, scan_id, ord)
   ORDER BY ord`;

/** The rows as FROM_ROWS's parameters: one binary array per column. */
function rowParams(rows: readonly BufferedRow[]): Buffer[] {
  const col = <T>(f: (x: BufferedRow) => T): T[] => rows.map(f);
  const meta = (f: (m: NewFileRow['meta']) => bigint | number): Buffer =>
    int8Array(rows.map((x) => f(x.row.meta)));
  return [
    int8Array(col((x) => x.id)),
    int8Array(col((x) => x.row.deviceId)),
    int8Array(col((x) => x.row.dirId)),
    byteaArray(col((x) => x.row.name)),
    meta((m) => m.inode),
    meta((m) => m.nlink),
    meta((m) => m.size),
    meta((m) => m.mtimeNs),
    meta((m) => m.ctimeNs),
    meta((m) => m.mode),
    meta((m) => m.uid),
    meta((m) => m.gid),
    meta((m) => m.blocks),
    byteaArray(col((x) => x.prefix)),
    byteaArray(col((x) => x.sha256)),
    int8Array(col((x) => x.scanId)),
  ];
}
