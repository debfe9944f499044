/**
 * Identity checks: is a path still the inode the plan recorded, unchanged since (DESIGN §4)?
 * Our own links and renames change ctimes and link counts; Expectations remembers them so that
 * they are not mistaken for someone else's change.
 */
import { createHash } from 'node:crypto';
import { readSync, type BigIntStats } from 'node:fs';
import type { Catalog } from '../../catalog/port.js';
import type { ActionRow } from '../../catalog/actions.js';
import type { InodeChange } from '../../catalog/execute-port.js';
import { describeErrno } from '../../errors.js';
import { displayPath } from '../../display-path.js';
import type { VerifiedDir } from '../../fs/safe-ops.js';

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
    private readonly catalog: Pick<Catalog, 'replacement'>,
    private readonly planId: number,
  ) {}
  private key(dev: number, ino: bigint): string {
    return `${dev}:${ino}`;
  }
  /** Inodes of the current page whose catalog record was read (found or not). */
  private known = new Set<string>();
  /**
   * Read what the catalog remembers of our changes to a page of actions' inodes in one query,
   * rather than one per inode when its ctime differs from the plan (a resumed run). Awaited
   * before any of the page's actions is checked, so that ctimeOk never asks the catalog: the
   * checks, and a check and its rename, have no catalog round trip between them.
   */
  async prefetch(actions: readonly ActionRow[]): Promise<void> {
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
    const found = await this.catalog.replacement.ownCtimes({ planId: this.planId, inodes: want });
    for (const [k, c] of found) if (!this.ctimes.has(k)) this.ctimes.set(k, c);
  }
  /**
   * Every inode checked was prefetched with its page (an action is checked after its page's
   * prefetch, and applied later in the same run). What the catalog knew of it then is in
   * `ctimes`; what it learnt since came from this run's memory (`touched`), which is in `ctimes`
   * too. So memory alone answers; an inode never prefetched counts as changed by someone else
   * (the action fails as stale, the safe side).
   */
  ctimeOk(dev: number, ino: bigint, planned: bigint, actual: bigint): boolean {
    if (actual === planned) return true;
    return this.ctimes.get(this.key(dev, ino)) === actual;
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

/**
 * Just before an act (synchronously with it): the directories we checked the files in must
 * still be where their paths lead. The act itself is relative to their fds, so a directory
 * swapped for a symlink can never send it elsewhere; this refuses to act at all in a
 * directory moved away or replaced since the check, where the journal's paths would not lead
 * recovery. Throws Stale.
 */
export function checkDirs(dirs: readonly VerifiedDir[]): void {
  for (const d of dirs) {
    if (!d.stillAt()) {
      throw new Stale(
        `stale: the directory ${displayPath(d.abs)} was moved or replaced (by a symlink or another directory) since it was checked; nothing done`,
      );
    }
  }
}
