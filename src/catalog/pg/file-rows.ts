/**
 * New file rows of a PostgreSQL scan, written behind the walk (write-behind.ts decides when):
 * each row has its id at once (id-blocks.ts) and waits here; a batch goes to the server by one
 * COPY (copy-rows.ts) or one multi-row statement over binary arrays (binary-array.ts), gathered
 * from many directories.
 * The walk's hashing may give a buffered row its hashes before it is written (`setHashes`):
 * one insert instead of an insert and an update.
 *
 * Two scans of overlapping roots can both find a path without a row and insert it; the second
 * insert keeps the row already there (ON CONFLICT DO NOTHING), as SQLite's insertFile does, and
 * the id it had handed out is mapped to that row (`resolve`) for the hash results written
 * later through this connection. A row whose directory this transaction inserted cannot meet
 * one (no other transaction sees that directory, so none can name it), and most of a first
 * scan's rows are such: they go by COPY (copy-rows.ts), which spares the server the
 * speculative insertion of ON CONFLICT and the ids sent back (0.15–0.25 s of the 1.4–1.7 s it
 * took to insert the reference tree's 100,000 rows, measured alone) and the executor's work
 * per row.
 */
import type pg from 'pg';
import type { NewFileRow, ReadDigests } from '../scan-port.js';
import { byteaArray, int8Array } from './binary-array.js';
import { BinaryCopy, copyInto } from './copy-rows.js';

/**
 * How a row is inserted: `plain` below a directory this transaction inserted (no other row can
 * hold its path); `keep-existing` elsewhere (another scan's row for the path wins).
 */
export type RowInsert = 'plain' | 'keep-existing';

/** What a hash result must still match to land on a buffered row (the hashed identity). */
export interface BufferedIdentity {
  readonly deviceId: number;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/** A growable column of signed 64-bit values. */
class Int64Column {
  private values = new BigInt64Array(1024);
  private n = 0;

  /** Refuses a value out of int8's range, as the wire encoding did (a typed array would wrap it). */
  push(v: bigint): void {
    if (BigInt.asIntN(64, v) !== v) throw new RangeError(`int8 column: ${v} is out of range`);
    if (this.n === this.values.length) {
      const grown = new BigInt64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.n++] = v;
  }

  get(i: number): bigint {
    return this.values[i]!;
  }
}

/**
 * Buffered rows, a column each rather than an object per row. The rows wait behind the walk
 * for a batch or two, long enough to survive the main thread's young-generation collections,
 * and as objects (a row, its metadata, four BigInts) they made V8 grow that generation to its
 * maximum: the PostgreSQL first scan's peak RSS sat at DESIGN §6 T5's 200 MB. Here the walk's
 * row objects die young; what stays is a number or a 64-bit slot per field, and the name.
 */
export class RowColumns {
  readonly ids: number[] = [];
  readonly scanIds: number[] = [];
  readonly deviceIds: number[] = [];
  readonly dirIds: number[] = [];
  readonly names: Buffer[] = [];
  readonly inserts: RowInsert[] = [];
  readonly inode = new Int64Column();
  readonly size = new Int64Column();
  readonly mtimeNs = new Int64Column();
  readonly ctimeNs = new Int64Column();
  readonly nlink: number[] = [];
  readonly mode: number[] = [];
  readonly uid: number[] = [];
  readonly gid: number[] = [];
  readonly blocks: number[] = [];
  readonly prefix: (Buffer | null)[] = [];
  readonly suffix: (Buffer | null)[] = [];
  readonly sha256: (Buffer | null)[] = [];

  get length(): number {
    return this.ids.length;
  }

  /** Append row i of `from`, as it is there. */
  copyRow(from: RowColumns, i: number): void {
    this.ids.push(from.ids[i]!);
    this.scanIds.push(from.scanIds[i]!);
    this.deviceIds.push(from.deviceIds[i]!);
    this.dirIds.push(from.dirIds[i]!);
    this.names.push(from.names[i]!);
    this.inserts.push(from.inserts[i]!);
    this.inode.push(from.inode.get(i));
    this.size.push(from.size.get(i));
    this.mtimeNs.push(from.mtimeNs.get(i));
    this.ctimeNs.push(from.ctimeNs.get(i));
    this.nlink.push(from.nlink[i]!);
    this.mode.push(from.mode[i]!);
    this.uid.push(from.uid[i]!);
    this.gid.push(from.gid[i]!);
    this.blocks.push(from.blocks[i]!);
    this.prefix.push(from.prefix[i] ?? null);
    this.suffix.push(from.suffix[i] ?? null);
    this.sha256.push(from.sha256[i] ?? null);
  }

  push(id: number, scanId: number, row: NewFileRow, insert: RowInsert): void {
    const m = row.meta;
    this.ids.push(id);
    this.scanIds.push(scanId);
    this.deviceIds.push(row.deviceId);
    this.dirIds.push(row.dirId);
    this.names.push(row.name);
    this.inserts.push(insert);
    this.inode.push(m.inode);
    this.size.push(m.size);
    this.mtimeNs.push(m.mtimeNs);
    this.ctimeNs.push(m.ctimeNs);
    this.nlink.push(m.nlink);
    this.mode.push(m.mode);
    this.uid.push(m.uid);
    this.gid.push(m.gid);
    this.blocks.push(m.blocks);
    this.prefix.push(row.hashes?.prefix ?? null);
    this.suffix.push(row.hashes?.suffix ?? null);
    this.sha256.push(row.hashes?.sha256 ?? null);
  }
}

export class FileRowBuffer {
  private rows = new RowColumns();
  /** Buffered row ids → their index in `rows`. */
  private byId = new Map<number, number>();
  private devices = new Set<number>();
  /** Rows `takeReady` kept back, at the start of `rows`. */
  private held = 0;
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
      this.byId.set(ids[i]!, this.rows.length);
      this.rows.push(ids[i]!, scanId, row, insert(row.dirId));
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
  setHashes(fileId: number, id: BufferedIdentity, hashes: ReadDigests): boolean {
    const i = this.byId.get(fileId);
    if (i === undefined) return false;
    const r = this.rows;
    if (
      r.deviceIds[i] !== id.deviceId ||
      r.inode.get(i) !== id.inode ||
      r.size.get(i) !== id.size ||
      r.mtimeNs.get(i) !== id.mtimeNs ||
      r.ctimeNs.get(i) !== id.ctimeNs
    )
      return false;
    r.prefix[i] = hashes.prefix;
    r.suffix[i] = hashes.suffix ?? r.suffix[i] ?? null;
    r.sha256[i] = hashes.sha256 ?? r.sha256[i] ?? null;
    return true;
  }

  /** The row an id handed out stands for (valid once the batch that held it is written). */
  resolve(fileId: number): number {
    return this.remapped.get(fileId) ?? fileId;
  }

  /** Rows buffered since the last `takeReady` (the rows it held back not counted). */
  get fresh(): number {
    return this.rows.length - this.held;
  }

  /** Hand the buffered rows over, in order, for writing; the buffer is empty after. */
  take(): RowColumns {
    const rows = this.rows;
    this.rows = new RowColumns();
    this.byId = new Map();
    this.devices = new Set();
    this.held = 0;
    return rows;
  }

  /**
   * Hand over the rows to write now, in order, and keep back the newest `hold` rows at most
   * that have no full hash yet: the walk may still hash them (the first file of a size, once
   * a second shows up; a prefix pair's full read), and a row that takes its hashes here is
   * inserted once instead of inserted and updated (an update costs the server a new row
   * version and its index entries: ~30 µs a row against ~17 µs for the insert).
   */
  takeReady(hold: number): RowColumns {
    const all = this.take();
    const n = all.length;
    const keep = new Uint8Array(n);
    let kept = 0;
    for (let i = n - 1; i >= 0 && kept < hold; i--) {
      if (all.sha256[i] !== null) continue;
      keep[i] = 1;
      kept++;
    }
    if (kept === 0) return all;
    const ready = new RowColumns();
    for (let i = 0; i < n; i++) {
      const to = keep[i] === 1 ? this.rows : ready;
      if (to === this.rows) {
        this.byId.set(all.ids[i]!, this.rows.length);
        this.devices.add(all.deviceIds[i]!);
      }
      to.copyRow(all, i);
    }
    this.held = kept;
    return ready;
  }

  /**
   * Write taken rows, in order, by a statement per kind of insert; note the rows another scan
   * inserted first.
   */
  async write(
    client: pg.Client,
    rows: RowColumns,
    dirRemap: ReadonlyMap<number, number>,
  ): Promise<void> {
    const plain: number[] = [];
    const elsewhere: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      // A directory another scan inserted first (dir-rows.ts): its row, and that scan may have
      // inserted some of these paths too.
      const theirs = dirRemap.size === 0 ? undefined : dirRemap.get(rows.dirIds[i]!);
      if (theirs !== undefined) {
        rows.dirIds[i] = theirs;
        rows.inserts[i] = 'keep-existing';
      }
      (rows.inserts[i] === 'plain' ? plain : elsewhere).push(i);
    }
    if (plain.length > 0) await copyInto(client, COPY_TARGET, copyData(rows, plain));
    if (elsewhere.length > 0) await this.writeKeepingExisting(client, rows, elsewhere);
  }

  private async writeKeepingExisting(
    client: pg.Client,
    rows: RowColumns,
    at: readonly number[],
  ): Promise<void> {
    const r = await client.query<{ id: string }>(
      `${INSERT} ${FROM_ROWS} ON CONFLICT (dir_id, name) DO NOTHING RETURNING id`,
      rowParams(rows, at),
    );
    if (r.rows.length === at.length) return;
    // Paths another scan inserted since our merge found them without a row: theirs is kept.
    const written = new Set(r.rows.map((row) => Number(row.id)));
    const lost = at.filter((i) => !written.has(rows.ids[i]!));
    const kept = await client.query<{ id: string; ord: string }>(
      `SELECT f.id, n.ord FROM unnest($1::int8[], $2::bytea[]) WITH ORDINALITY AS n(dir_id, name, ord)
         JOIN files f ON f.dir_id = n.dir_id AND f.name = n.name`,
      [int8Array(lost.map((i) => rows.dirIds[i]!)), byteaArray(lost.map((i) => rows.names[i]!))],
    );
    for (const k of kept.rows) this.remapped.set(rows.ids[lost[Number(k.ord) - 1]!]!, Number(k.id));
  }
}

const INSERT = `INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode,
                                   uid, gid, blocks, prefix_hash, suffix_hash, sha256, status,
                                   first_seen_scan, changed_scan)`;
const FROM_ROWS = `SELECT id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid,
         blocks, prefix_hash, suffix_hash, sha256, 'active', scan_id, scan_id
    FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::int8[], $6::int8[],
                $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[],
                $13::int8[], $14::bytea[], $15::bytea[], $16::bytea[], $17::int8[])
         WITH ORDINALITY AS n(id, device_id, dir_id, name, inode, nlink, size, mtime_ns,
                              ctime_ns, mode, uid, gid, blocks, prefix_hash, suffix_hash, sha256,
                              scan_id, ord)
   ORDER BY ord`;

/** The rows a plain insert sends by COPY (copy-rows.ts): fourteen int8 columns, then bytes. */
const COPY_TARGET = `files (id, device_id, dir_id, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid,
                           blocks, first_seen_scan, changed_scan, name, prefix_hash, suffix_hash, sha256,
                           status)`;
const ACTIVE = Buffer.from('active');

/** The rows at `at` as COPY_TARGET's binary COPY data. */
function copyData(r: RowColumns, at: readonly number[]): Buffer {
  const c = new BinaryCopy(at.length * 300);
  for (const i of at) {
    c.row(19);
    c.int8(r.ids[i]!);
    c.int8(r.deviceIds[i]!);
    c.int8(r.dirIds[i]!);
    c.int8(r.inode.get(i));
    c.int8(r.nlink[i]!);
    c.int8(r.size.get(i));
    c.int8(r.mtimeNs.get(i));
    c.int8(r.ctimeNs.get(i));
    c.int8(r.mode[i]!);
    c.int8(r.uid[i]!);
    c.int8(r.gid[i]!);
    c.int8(r.blocks[i]!);
    c.int8(r.scanIds[i]!);
    c.int8(r.scanIds[i]!);
    c.bytes(r.names[i]!);
    c.bytes(r.prefix[i] ?? null);
    c.bytes(r.suffix[i] ?? null);
    c.bytes(r.sha256[i] ?? null);
    c.bytes(ACTIVE);
  }
  return c.end();
}

/** The rows at `at` as FROM_ROWS's parameters: one binary array per column. */
function rowParams(r: RowColumns, at: readonly number[]): Buffer[] {
  const ints = (col: readonly number[]) => int8Array(at.map((i) => col[i]!));
  const bigs = (col: Int64Column) => int8Array(at.map((i) => col.get(i)));
  const bytes = (col: readonly (Buffer | null)[]) => byteaArray(at.map((i) => col[i] ?? null));
  return [
    ints(r.ids),
    ints(r.deviceIds),
    ints(r.dirIds),
    bytes(r.names),
    bigs(r.inode),
    ints(r.nlink),
    bigs(r.size),
    bigs(r.mtimeNs),
    bigs(r.ctimeNs),
    ints(r.mode),
    ints(r.uid),
    ints(r.gid),
    ints(r.blocks),
    bytes(r.prefix),
    bytes(r.suffix),
    bytes(r.sha256),
    ints(r.scanIds),
  ];
}
