/**
 * A BigIntStats made from native/at.cc's fstatat fields, so that the executor's checks take the
 * native and the Node stats alike. Every field is signed 64-bit, as Node's own BigInt stats
 * are (it fills a BigInt64Array too): an inode compared across the two is the same bigint.
 */
import { constants, type BigIntStats } from 'node:fs';

/** The number of fields lstatAt fills (native/at.cc). */
export const AT_STAT_FIELDS = 14;

const NS_PER_MS = 1_000_000n;

export class AtStats implements BigIntStats {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly rdev: bigint;
  readonly size: bigint;
  readonly blksize: bigint;
  readonly blocks: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly birthtimeNs: bigint;

  constructor(f: BigInt64Array) {
    this.dev = f[0]!;
    this.ino = f[1]!;
    this.mode = f[2]!;
    this.nlink = f[3]!;
    this.uid = f[4]!;
    this.gid = f[5]!;
    this.rdev = f[6]!;
    this.size = f[7]!;
    this.blksize = f[8]!;
    this.blocks = f[9]!;
    this.atimeNs = f[10]!;
    this.mtimeNs = f[11]!;
    this.ctimeNs = f[12]!;
    this.birthtimeNs = f[13]!;
  }

  private type(): bigint {
    return this.mode & BigInt(constants.S_IFMT);
  }
  isFile(): boolean {
    return this.type() === BigInt(constants.S_IFREG);
  }
  isDirectory(): boolean {
    return this.type() === BigInt(constants.S_IFDIR);
  }
  isBlockDevice(): boolean {
    return this.type() === BigInt(constants.S_IFBLK);
  }
  isCharacterDevice(): boolean {
    return this.type() === BigInt(constants.S_IFCHR);
  }
  isSymbolicLink(): boolean {
    return this.type() === BigInt(constants.S_IFLNK);
  }
  isFIFO(): boolean {
    return this.type() === BigInt(constants.S_IFIFO);
  }
  isSocket(): boolean {
    return this.type() === BigInt(constants.S_IFSOCK);
  }
  // Milliseconds and Dates as Node derives them; nothing in the executor reads them.
  get atimeMs(): bigint {
    return this.atimeNs / NS_PER_MS;
  }
  get mtimeMs(): bigint {
    return this.mtimeNs / NS_PER_MS;
  }
  get ctimeMs(): bigint {
    return this.ctimeNs / NS_PER_MS;
  }
  get birthtimeMs(): bigint {
    return this.birthtimeNs / NS_PER_MS;
  }
  get atime(): Date {
    return new Date(Number(this.atimeMs));
  }
  get mtime(): Date {
    return new Date(Number(this.mtimeMs));
  }
  get ctime(): Date {
    return new Date(Number(this.ctimeMs));
  }
  get birthtime(): Date {
    return new Date(Number(this.birthtimeMs));
  }
}
