/**
 * A set of byte strings (directory paths) numbered 0, 1, 2… in the order they were added, held
 * in a few packed arrays: the bytes in one arena, an open-addressing hash table of their
 * numbers. A rescan holds one path per directory of the tree (known-listings.ts); a Map keyed by
 * strings cost ~320 bytes of resident memory per directory, mostly in the collector's heap,
 * against ~100 here (bench/NOTES.md).
 */

const EMPTY = -1;

/** FNV-1a over the bytes: a few ns a byte, and paths are short. */
function hashOf(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

export class PathTable {
  private arena: Buffer = Buffer.alloc(64 * 1024);
  private used = 0;
  private starts: Uint32Array = new Uint32Array(1024);
  private ends: Uint32Array = new Uint32Array(1024);
  private hashes: Uint32Array = new Uint32Array(1024);
  /** Path numbers, EMPTY where free; its length a power of two, at most half full. */
  private table = new Int32Array(2048).fill(EMPTY);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Bytes held (the arrays, free room included). */
  get bytes(): number {
    return (
      this.arena.length +
      this.starts.byteLength +
      this.ends.byteLength +
      this.hashes.byteLength +
      this.table.byteLength
    );
  }

  /** Add the path given in hex (as the catalog hands it over); returns its number. */
  addHex(hex: string): number {
    const len = hex.length >> 1;
    if (this.used + len > this.arena.length) this.arena = grown(this.arena, this.used + len);
    const start = this.used;
    this.arena.write(hex, start, len, 'hex');
    const end = start + len;
    const h = hashOf(this.arena, start, end);
    const found = this.find(this.arena, start, end, h);
    if (found !== EMPTY) return found;
    this.used = end;
    const n = this.count++;
    if (n === this.starts.length) this.growSlots();
    this.starts[n] = start;
    this.ends[n] = end;
    this.hashes[n] = h;
    if (this.count * 2 > this.table.length) this.rehash(this.table.length * 2);
    else this.place(n, h);
    return n;
  }

  /** The number of `path`, or undefined. */
  get(path: Buffer): number | undefined {
    const n = this.find(path, 0, path.length, hashOf(path, 0, path.length));
    return n === EMPTY ? undefined : n;
  }

  private find(b: Buffer, start: number, end: number, h: number): number {
    const mask = this.table.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const n = this.table[i]!;
      if (n === EMPTY) return EMPTY;
      if (
        this.hashes[n] === h &&
        this.ends[n]! - this.starts[n]! === end - start &&
        this.arena.compare(b, start, end, this.starts[n], this.ends[n]) === 0
      )
        return n;
    }
  }

  private place(n: number, h: number): void {
    const mask = this.table.length - 1;
    let i = h & mask;
    while (this.table[i] !== EMPTY) i = (i + 1) & mask;
    this.table[i] = n;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    for (let n = 0; n < this.count; n++) this.place(n, this.hashes[n]!);
  }

  private growSlots(): void {
    const size = this.starts.length * 2;
    this.starts = grownU32(this.starts, size);
    this.ends = grownU32(this.ends, size);
    this.hashes = grownU32(this.hashes, size);
  }
}

function grown(b: Buffer, atLeast: number): Buffer {
  let size = b.length * 2;
  while (size < atLeast) size *= 2;
  const n = Buffer.alloc(size);
  b.copy(n);
  return n;
}

function grownU32(a: Uint32Array, size: number): Uint32Array {
  const n = new Uint32Array(size);
  n.set(a);
  return n;
}
