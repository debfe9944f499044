/**
 * New file rows sent by COPY in PostgreSQL's binary format, for the rows no other scan can
 * hold (file-rows.ts `plain`: most of a first scan's). COPY spares the server the executor's
 * work per row and writes the heap a page at a time (a multi-insert: one WAL record per page);
 * indexes, constraints and the statement-level triggers (references, dirty keys) run as for
 * an INSERT. Measured alone on 100,000 rows of the files table, in batches of 4,096: 1.20 s
 * against 1.40–1.58 s by INSERT … SELECT FROM unnest (binary arrays).
 *
 * The format (PostgreSQL's "COPY … BINARY"): a signature, flags and a header extension length;
 * per row the field count, then per field its byte length (-1 for NULL) and its bytes, in the
 * column's binary send format (int8: 8 bytes big-endian; bytea and text: the bytes); then -1.
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The bytes of a binary COPY, written a field at a time in the columns' order. */
export class BinaryCopy {
  private buf: Buffer;
  private at: number;

  constructor(sizeHint: number) {
    this.buf = Buffer.allocUnsafe(Math.max(sizeHint, 64));
    SIGNATURE.copy(this.buf, 0);
    this.buf.writeInt32BE(0, 11); // flags
    this.buf.writeInt32BE(0, 15); // header extension length
    this.at = 19;
  }

  /** Start a row of n fields. */
  row(n: number): void {
    this.room(2);
    this.buf.writeInt16BE(n, this.at);
    this.at += 2;
  }

  /** An int8 field; numbers must be safe integers. */
  int8(v: bigint | number): void {
    this.room(12);
    this.buf.writeInt32BE(8, this.at);
    if (typeof v === 'bigint') this.buf.writeBigInt64BE(v, this.at + 4);
    else {
      if (!Number.isSafeInteger(v)) throw new RangeError(`int8 field: ${v} is not an integer`);
      // Two 32-bit halves: writeBigInt64BE(BigInt(v)) would allocate a BigInt per value.
      const hi = Math.floor(v / 0x1_0000_0000);
      this.buf.writeInt32BE(hi, this.at + 4);
      this.buf.writeUInt32BE(v - hi * 0x1_0000_0000, this.at + 8);
    }
    this.at += 12;
  }

  /** A bytea (or text, as UTF-8 bytes) field; null for NULL. */
  bytes(v: Buffer | null): void {
    if (v === null) {
      this.room(4);
      this.buf.writeInt32BE(-1, this.at);
      this.at += 4;
      return;
    }
    this.room(4 + v.length);
    this.buf.writeInt32BE(v.length, this.at);
    v.copy(this.buf, this.at + 4);
    this.at += 4 + v.length;
  }

  /** The stream's bytes, trailer included. */
  end(): Buffer {
    this.room(2);
    this.buf.writeInt16BE(-1, this.at);
    this.at += 2;
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}

/** Send `data` (a BinaryCopy's bytes) by `COPY target FROM STDIN (FORMAT binary)`. */
export async function copyInto(client: pg.Client, target: string, data: Buffer): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`));
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('finish', resolve);
    stream.end(data);
  });
}
