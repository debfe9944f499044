/**
 * Undoing one executed HARDLINK action (steps 1-8 of undo.ts's header): check that the target
 * is still a link of the kept inode, copy the kept content into a fresh file with the target's
 * original metadata, and rename it over the target, journaled so that a crash anywhere leaves
 * each path with its content (undo-recovery.ts finishes or rolls back).
 *
 * Awaits (the catalog) happen only before the checks that guard the rename: between the last
 * identity check of the target and the kept inode and renameSync nothing else can run.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  readSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import type { Catalog } from '../catalog/port.js';
import type { PlanRow } from '../catalog/plans.js';
import type { ActionRow } from '../catalog/actions.js';
import type { OriginalMeta, UndoAction } from '../catalog/undo.js';
import { describeErrno, errnoCode } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { VerifiedDir, openRegularAt } from '../fs/safe-ops.js';
import { baseName, parentOf } from '../paths.js';
import { displayPath } from '../display-path.js';
import { hashFd } from './execute/identity.js';
import { micros, utimeArg } from './execute/reflink.js';
import { UNDO_TEMP_PREFIX, type UndoOutcome, type UndoReport } from './undo-types.js';

/** The path changed since execute: left alone, reported. */
class Changed extends Error {}

const BUF_BYTES = 1 << 20;
const CREATE = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface ActionUndoerOptions {
  readonly catalog: Pick<Catalog, 'undo'>;
  readonly plan: PlanRow;
  readonly dryRun: boolean;
  /** Where a device's filesystem path is now (undefined: not mounted). */
  readonly abs: (deviceId: number, fsPath: Buffer) => Buffer | undefined;
}

export class ActionUndoer {
  private readonly buf = Buffer.allocUnsafeSlow(BUF_BYTES);
  /** The ctime this run left on a kept inode (undoing one path changes it for the next). */
  private readonly ctimes = new Map<string, bigint>();
  /** The ctimes on record for the current page's kept inodes (see UndoPage). */
  private recorded: ReadonlyMap<string, bigint> = new Map();

  constructor(private readonly o: ActionUndoerOptions) {}

  /** The ctimes on record for the next page's kept inodes. */
  setRecordedCtimes(ctimes: ReadonlyMap<string, bigint>): void {
    this.recorded = ctimes;
  }

  async undo(u: UndoAction): Promise<UndoReport> {
    const { action } = u;
    const targetAbs = this.o.abs(action.deviceId, action.targetPath);
    const sourceAbs = this.o.abs(action.sourceDeviceId, action.sourcePath);
    const report = (outcome: UndoOutcome): UndoReport => ({ action, targetAbs, outcome });
    if (!targetAbs || !sourceAbs) {
      return report(
        await this.record(u, {
          kind: 'failed',
          error: 'device not mounted: its filesystem is not reachable at any mount point now',
        }),
      );
    }
    let dir: VerifiedDir | undefined;
    let fd: number | undefined;
    try {
      try {
        dir = VerifiedDir.open(parentOf(targetAbs));
      } catch (err) {
        // A directory on the way removed, or swapped for a symlink: never followed.
        const code = errnoCode(err);
        if (code === 'ENOENT') throw new Changed('its directory was removed');
        if (code === 'EDIRCHANGED') throw new Changed((err as Error).message);
        throw err;
      }
      const tgtName = baseName(targetAbs);
      let opened: { fd: number; st: BigIntStats };
      try {
        this.checkLinked(action, dir.lstat(tgtName));
        opened = openRegularAt(dir, tgtName);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') throw new Changed('removed since execute');
        throw err;
      }
      fd = opened.fd;
      this.checkLinked(action, opened.st);
      const outcome = this.o.dryRun
        ? this.dryCheck(u, fd)
        : await this.restore(u, { dir, fd, tgtName, targetAbs, sourceAbs });
      return report(outcome.kind === 'would-restore' ? outcome : await this.record(u, outcome));
    } catch (err) {
      const outcome: UndoOutcome =
        err instanceof Changed
          ? { kind: 'left', why: `changed since execute: ${err.message}; left alone` }
          : { kind: 'failed', error: describeErrno(err) };
      return report(await this.record(u, outcome));
    } finally {
      if (fd !== undefined) closeSync(fd);
      dir?.close();
    }
  }

  /** The outcome on record (not in a dry run); a restored action is settled by restore(). */
  private async record(u: UndoAction, o: UndoOutcome): Promise<UndoOutcome> {
    if (this.o.dryRun || o.kind === 'restored' || o.kind === 'would-restore') return o;
    await this.o.catalog.undo.setOutcome({
      actionId: u.action.id,
      status: o.kind === 'left' ? 'left' : 'failed',
      why: o.kind === 'left' ? o.why : o.error,
    });
    return o;
  }

  /** Step 2: the path is still a link of the kept inode as execute (or we) left it. */
  private checkLinked(a: ActionRow, st: BigIntStats): void {
    if (!st.isFile()) throw new Changed('no longer a regular file');
    if (BigInt.asIntN(64, st.ino) !== a.sourceInode)
      throw new Changed(
        `no longer a link of the kept file (inode ${st.ino}, kept ${a.sourceInode})`,
      );
    if (st.size !== BigInt(a.size))
      throw new Changed(`size changed (${st.size} bytes, ${a.size} planned)`);
    if (st.mtimeNs !== a.sourceMtimeNs) throw new Changed('modified (mtime changed)');
    const key = `${a.sourceDeviceId}:${a.sourceInode}`;
    const expected = this.ctimes.get(key) ?? this.recorded.get(key);
    if (expected !== undefined && st.ctimeNs !== expected)
      throw new Changed('ctime changed (rewritten, chmod/chown or relinked)');
  }

  /** Read the kept content through the open target: it must hash to the plan's SHA-256. */
  private dryCheck(u: UndoAction, fd: number): UndoOutcome {
    const h = hashFd(fd, this.buf);
    if (u.action.groupHash && !h.equals(u.action.groupHash))
      return {
        kind: 'failed',
        error: "content mismatch: the kept file no longer hashes to the plan's SHA-256",
      };
    this.checkLinked(u.action, fstatSync(fd, { bigint: true }));
    return { kind: 'would-restore', legacy: u.orig === undefined };
  }

  /** Steps 3-8 for one verified path. */
  private async restore(
    u: UndoAction,
    p: { dir: VerifiedDir; fd: number; tgtName: Buffer; targetAbs: Buffer; sourceAbs: Buffer },
  ): Promise<UndoOutcome> {
    const { action } = u;
    const { undo } = this.o.catalog;
    const tmpName = Buffer.from(
      `${UNDO_TEMP_PREFIX}${this.o.plan.id}-${action.id}-${randomBytes(4).toString('hex')}`,
    );
    const tempAbs = Buffer.concat([p.dir.abs, Buffer.from('/'), tmpName]);
    await undo.journal.intent({
      actionId: action.id,
      planId: this.o.plan.id,
      sourceAbs: p.sourceAbs,
      targetAbs: p.targetAbs,
      tempAbs,
    });
    failpoint('undo-after-journal', action.id);
    let tfd: number;
    try {
      tfd = p.dir.open(tmpName, CREATE, 0o600);
    } catch (err) {
      // EEXIST cannot be ours (a fresh random name): leave it alone.
      await undo.journal.drop(action.id);
      return {
        kind: 'failed',
        error: `cannot create ${displayPath(tempAbs)}: ${describeErrno(err)}`,
      };
    }
    let tempIno: bigint | undefined;
    try {
      const meta = this.originalMeta(u, p.fd);
      this.copy(p.fd, tfd, action);
      failpoint('undo-after-copy', action.id);
      // Owner first (chown clears setuid/setgid), then mode, then times.
      fchownSync(tfd, meta.uid, meta.gid);
      fchmodSync(tfd, meta.mode & 0o7777);
      futimesSync(tfd, utimeArg(meta.atimeNs), utimeArg(meta.mtimeNs));
      const cs = fstatSync(tfd, { bigint: true });
      if (
        cs.uid !== BigInt(meta.uid) ||
        cs.gid !== BigInt(meta.gid) ||
        (cs.mode & 0o7777n) !== BigInt(meta.mode & 0o7777) ||
        micros(cs.mtimeNs) !== micros(meta.mtimeNs)
      ) {
        throw new Error('the copy could not take the original owner, group, mode and mtime');
      }
      // On disk before it can replace anything (one fsync per path: most of undo's time).
      fsyncSync(tfd);
      tempIno = cs.ino;
      failpoint('undo-after-meta', action.id);
      // On record before it replaces anything: recovery recognises our copy by this inode.
      await undo.journal.tempInode(action.id, tempIno);
      // From here to the rename: no await (the checks guard the rename). The directory must
      // still be where its path leads (the journal's paths are what recovery follows); the
      // rename itself is relative to its fd.
      if (!p.dir.stillAt())
        throw new Changed('its directory was moved or replaced since it was checked');
      this.checkLinked(action, p.dir.lstat(p.tgtName));
      this.checkLinked(action, fstatSync(p.fd, { bigint: true }));
      failpoint('undo-before-rename', action.id);
      p.dir.renameTo(tmpName, { dir: p.dir, name: p.tgtName });
    } catch (err) {
      closeSync(tfd);
      try {
        p.dir.unlink(tmpName);
        await undo.journal.drop(action.id);
      } catch {
        // the journal row stays: recovery removes the copy
      }
      throw err;
    }
    closeSync(tfd);
    failpoint('undo-after-rename', action.id);
    const post = p.dir.lstat(p.tgtName);
    const kept = fstatSync(p.fd, { bigint: true }); // one link fewer now
    const keptState = { ctimeNs: kept.ctimeNs, nlink: Number(kept.nlink) };
    this.ctimes.set(`${action.sourceDeviceId}:${action.sourceInode}`, kept.ctimeNs);
    if (post.ino !== tempIno) {
      // Someone replaced the target between our rename and this check: nothing of ours stands.
      await undo.settle({ kind: 'replaced-meanwhile', action, kept: keptState });
      throw new Changed('after the rename the path is not our copy (replaced meanwhile)');
    }
    await undo.settle({ kind: 'restored', action, target: post, kept: keptState });
    failpoint('undo-after-commit', action.id);
    return { kind: 'restored', legacy: u.orig === undefined };
  }

  /**
   * Recorded at execute; for older plans, the kept file's owner, group and mode (execute linked
   * only equal ones), the plan's target mtime and the kept file's atime.
   */
  private originalMeta(u: UndoAction, keptFd: number): OriginalMeta {
    if (u.orig) return u.orig;
    const st = fstatSync(keptFd, { bigint: true });
    return {
      uid: Number(st.uid),
      gid: Number(st.gid),
      mode: Number(st.mode),
      atimeNs: st.atimeNs,
      mtimeNs: u.action.targetMtimeNs,
    };
  }

  /** Copy the kept content, check its hash, and read the copy back to check it too. */
  private copy(from: number, to: number, action: ActionRow): void {
    const h = createHash('sha256');
    let pos = 0;
    for (;;) {
      const n = readSync(from, this.buf, 0, this.buf.length, pos);
      if (n === 0) break;
      const chunk = this.buf.subarray(0, n);
      h.update(chunk);
      for (let off = 0; off < n;) off += writeSync(to, chunk, off, n - off, pos + off);
      pos += n;
    }
    const read = h.digest();
    if (pos !== action.size)
      throw new Changed(`size changed while copying (${pos} bytes read, ${action.size} planned)`);
    if (action.groupHash && !read.equals(action.groupHash))
      throw new Changed("content changed: the kept file no longer hashes to the plan's SHA-256");
    if (!hashFd(to, this.buf).equals(read))
      throw new Error('the copy does not read back as written (storage error?)');
  }
}
