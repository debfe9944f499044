/**
 * Identity checks: is a path still the inode the plan recorded, unchanged since (DESIGN §4)?
 * Our own links and renames change ctimes and link counts; Expectations remembers them so that
 * they are not mistaken for someone else's change.
 */
import { createHash } from 'node:crypto';
import { readSync, type BigIntStats } from 'node:fs';
import type { DB } from '../../catalog/open.js';
import type { ActionRow } from '../../catalog/actions.js';
import type { InodeChange } from '../../catalog/execution.js';
import { ownCtime, ownCtimes } from '../../catalog/replacement.js';
import { describeErrno } from '../../errors.js';

/** The file is not what the plan recorded (or changed while we looked): the action fails. */
export class Stale extends Error {}

/** The process (EMFILE) or the system (ENFILE) ran out of descriptors: never an action's fault. */
export class OutOfFds extends Error {
  constructor(readonly errnoError: unknown) {
    super(describeErrno(errnoError));
  }
}

/**
 * Identity check allowing for ctime changes this plan's execution made itself (linking changes
 * the ctime of both inodes). Our changes are remembered in memory and, for a resumed run, in
 * the catalog (conductor_inode_state). The catalog rows of touched inodes are brought up to
 * date once per outcome transaction rather than once per action.
 */
export class Expectations {
  private readonly ctimes = new Map<string, bigint>();
  private readonly dirty = new Map<string, InodeChange>();
  constructor(
    private readonly db: DB,
    private readonly planId: number,
  ) {}
  private key(dev: number, ino: bigint): string {
    return `${dev}:${ino}`;
  }
  /** Inodes of the current page whose catalog record was read (found or not). */
  private known = new Set<string>();
  /**
   * Read what the catalog remembers of our changes to a page of actions' inodes in one query,
   * rather than one per inode when its ctime differs from the plan (a resumed run).
   */
  prefetch(actions: readonly ActionRow[]): void {
    this.known = new Set();
    const want: { deviceId: number; inode: bigint }[] = [];
    for (const a of actions) {
      for (const [deviceId, inode] of [
        [a.sourceDeviceId, a.sourceInode],
        [a.deviceId, a.targetInode],
      ] as const) {
        const k = this.key(deviceId, inode);
        if (this.ctimes.has(k) || this.known.has(k)) continue;
        this.known.add(k);
        want.push({ deviceId, inode });
      }
    }
    // Memory is never older than the catalog (the catalog learns our changes from it).
    for (const [k, c] of ownCtimes(this.db, this.planId, want))
      if (!this.ctimes.has(k)) this.ctimes.set(k, c);
  }
  ctimeOk(dev: number, ino: bigint, planned: bigint, actual: bigint): boolean {
    if (actual === planned) return true;
    const k = this.key(dev, ino);
    let own = this.ctimes.get(k);
    if (own === undefined && !this.known.has(k)) {
      own = ownCtime(this.db, this.planId, dev, ino);
      if (own !== undefined) this.ctimes.set(k, own);
    }
    return own === actual;
  }
  /**
   * We just changed this inode (link, rename, unlink of our temp link): later checks in this
   * run must expect the new ctime. The catalog learns it in the batch's outcome transaction.
   */
  touched(dev: number, ino: bigint, st: BigIntStats): void {
    const k = this.key(dev, ino);
    this.ctimes.set(k, st.ctimeNs);
    this.dirty.set(k, { deviceId: dev, inode: ino, nlink: Number(st.nlink), ctimeNs: st.ctimeNs });
  }
  /** Our changes since the last call, for the next outcome transaction. */
  drain(): InodeChange[] {
    const list = [...this.dirty.values()];
    this.dirty.clear();
    return list;
  }
}

/** What the plan recorded of one side of an action. */
export interface PlannedFile {
  readonly what: 'source' | 'target';
  readonly deviceId: number;
  readonly inode: bigint;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export function plannedSource(a: ActionRow): PlannedFile {
  return {
    what: 'source',
    deviceId: a.sourceDeviceId,
    inode: a.sourceInode,
    size: a.size,
    mtimeNs: a.sourceMtimeNs,
    ctimeNs: a.sourceCtimeNs,
  };
}

export function plannedTarget(a: ActionRow): PlannedFile {
  return {
    what: 'target',
    deviceId: a.deviceId,
    inode: a.targetInode,
    size: a.size,
    mtimeNs: a.targetMtimeNs,
    ctimeNs: a.targetCtimeNs,
  };
}

function describe(st: BigIntStats): string {
  return `inode ${st.ino}, size ${st.size}, mtime_ns ${st.mtimeNs}`;
}

/** Throws Stale unless `st` is the planned file, unchanged but for our own changes. */
export function checkIdentity(st: BigIntStats, planned: PlannedFile, exp: Expectations): void {
  const { what, inode, size } = planned;
  if (!st.isFile()) throw new Stale(`stale: ${what} is no longer a regular file`);
  const actualIno = BigInt.asIntN(64, st.ino);
  if (actualIno !== inode)
    throw new Stale(
      `stale: ${what} was replaced since the plan (${describe(st)}, planned inode ${inode})`,
    );
  if (st.size !== BigInt(size))
    throw new Stale(`stale: ${what} size changed (${st.size} bytes, planned ${size})`);
  if (st.mtimeNs !== planned.mtimeNs)
    throw new Stale(`stale: ${what} was modified since the plan (mtime changed)`);
  if (!exp.ctimeOk(planned.deviceId, inode, planned.ctimeNs, st.ctimeNs)) {
    throw new Stale(
      `stale: ${what} changed since the plan (ctime changed: rewritten, chmod/chown or relinked)`,
    );
  }
}

export function hashFd(fd: number, buf: Buffer): Buffer {
  const h = createHash('sha256');
  let pos = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(n === buf.length ? buf : buf.subarray(0, n));
    pos += n;
  }
  return h.digest();
}
