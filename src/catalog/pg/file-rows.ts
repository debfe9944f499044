/**
 * New file rows of a PostgreSQL scan, written behind the walk: `insertFiles` hands out row ids
 * at once (reserved from the table's identity sequence, a block per round trip) and keeps the
 * rows in memory; they go to the server by one multi-row statement (unnest arrays) per
 * FLUSH_ROWS rows, gathered from many directories, instead of one statement per directory.
 *
 * Nothing may read what is still buffered, so the buffer is flushed before anything that reads
 * file rows of the scan: every COMMIT and unit of work's end (tx.ts), the end of a walk
 * (applyDeletions, discardParked), a listing's move probe, the hash stages. A scan stopped
 * mid-way therefore commits every row it saw, as on SQLite; a ROLLBACK drops the buffer with
 * the transaction. The walk's hashing may give a buffered row its hashes before it is written
 * (`setHashes`): one insert instead of an insert and an update.
 *
 * Two scans of overlapping roots can both find a path without a row and insert it; the second
 * insert keeps the row already there (ON CONFLICT DO NOTHING), as SQLite's insertFile does, and
 * the id it had handed out is mapped to that row (`resolve`) for the hash results written
 * later through this connection.
 */
import type pg from 'pg';
import type { NewFileRow } from '../scan-port.js';

/** Rows per INSERT: large enough that per-statement costs vanish, small enough to keep memory low. */
export const FLUSH_ROWS = 4096;
/** Row ids reserved per round trip. */
const ID_BLOCK = 4096;

interface BufferedRow {
  readonly id: number;
  readonly scanId: number;
  readonly row: NewFileRow;
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
  private spareIds: number[] = [];
  /** Ids handed out whose path another scan had inserted first: the row that holds it. */
  private readonly remapped = new Map<number, number>();

  constructor(private readonly client: pg.Client) {}

  /** Buffer rows of scan `scanId`; resolves to their row ids, in order. */
  async add(scanId: number, rows: readonly NewFileRow[]): Promise<number[]> {
    if (this.spareIds.length < rows.length) await this.reserve(rows.length);
    const ids = this.spareIds.splice(0, rows.length);
    rows.forEach((row, i) => {
      const b: BufferedRow = {
        id: ids[i]!,
        scanId,
        row,
        prefix: row.hashes?.prefix ?? null,
        sha256: row.hashes?.sha256 ?? null,
      };
      this.rows.push(b);
      this.byId.set(b.id, b);
      this.devices.add(row.deviceId);
    });
    if (this.rows.length >= FLUSH_ROWS) await this.flush();
    return ids;
  }

  /** Whether rows of this device wait in the buffer (a probe of its inodes must flush first). */
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

  /** The row an id handed out by `add` stands for. */
  resolve(fileId: number): number {
    return this.remapped.get(fileId) ?? fileId;
  }

  /** Write every buffered row, in order, by one statement. */
  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    this.byId = new Map();
    this.devices = new Set();
    const col = <T>(f: (x: BufferedRow) => T): T[] => rows.map(f);
    const r = await this.client.query<{ id: string }>(
      `INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid,
                          gid, blocks, prefix_hash, sha256, status, first_seen_scan, changed_scan)
       SELECT id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid,
              blocks, prefix_hash, sha256, 'active', scan_id, scan_id
         FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::int8[], $6::int8[],
                     $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[],
                     $13::int8[], $14::bytea[], $15::bytea[], $16::int8[])
              WITH ORDINALITY AS n(id, device_id, dir_id, name, inode, nlink, size, mtime_ns,
                                   ctime_ns, mode, uid, gid, blocks, prefix_hash, sha256, scan_id, ord)
        ORDER BY ord
       ON CONFLICT (dir_id, name) DO NOTHING
       RETURNING id`,
      [
        col((x) => x.id),
        col((x) => x.row.deviceId),
        col((x) => x.row.dirId),
        col((x) => x.row.name),
        col((x) => x.row.meta.inode),
        col((x) => x.row.meta.nlink),
        col((x) => x.row.meta.size),
        col((x) => x.row.meta.mtimeNs),
        col((x) => x.row.meta.ctimeNs),
        col((x) => x.row.meta.mode),
        col((x) => x.row.meta.uid),
        col((x) => x.row.meta.gid),
        col((x) => x.row.meta.blocks),
        col((x) => x.prefix),
        col((x) => x.sha256),
        col((x) => x.scanId),
      ],
    );
    if (r.rows.length === rows.length) return;
    // Paths another scan inserted since our merge found them without a row: theirs is kept.
    const written = new Set(r.rows.map((row) => Number(row.id)));
    const lost = rows.filter((x) => !written.has(x.id));
    const kept = await this.client.query<{ id: string; ord: string }>(
      `SELECT f.id, n.ord FROM unnest($1::int8[], $2::bytea[]) WITH ORDINALITY AS n(dir_id, name, ord)
         JOIN files f ON f.dir_id = n.dir_id AND f.name = n.name`,
      [lost.map((x) => x.row.dirId), lost.map((x) => x.row.name)],
    );
    for (const k of kept.rows) this.remapped.set(lost[Number(k.ord) - 1]!.id, Number(k.id));
  }

  /** Forget the buffered rows (their transaction rolled back). */
  discard(): void {
    this.rows = [];
    this.byId = new Map();
    this.devices = new Set();
  }

  private async reserve(atLeast: number): Promise<void> {
    const n = Math.max(ID_BLOCK, atLeast - this.spareIds.length);
    const r = await this.client.query<{ id: string }>(
      `SELECT nextval(pg_get_serial_sequence('files', 'id')) AS id FROM generate_series(1, $1)`,
      [n],
    );
    for (const row of r.rows) this.spareIds.push(Number(row.id));
  }
}

const buffers = new WeakMap<pg.Client, FileRowBuffer>();

/** The connection's buffer of new file rows (one scan at a time per connection). */
export function fileRowBuffer(client: pg.Client): FileRowBuffer {
  let b = buffers.get(client);
  if (!b) {
    b = new FileRowBuffer(client);
    buffers.set(client, b);
  }
  return b;
}

/** Write what the connection buffered (before a COMMIT, or a read of file rows). */
export async function flushFileRows(client: pg.Client): Promise<void> {
  await buffers.get(client)?.flush();
}

/** Drop what the connection buffered (its transaction is rolled back). */
export function discardFileRows(client: pg.Client): void {
  buffers.get(client)?.discard();
}
