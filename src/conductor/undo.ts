/**
 * `conductor undo ID` (issue 12 §5): give every path an executed hardlink plan replaced an
 * independent copy of its content again, with the owner, group, mode and times it had before
 * execute. Same safety protocol as execute (the caller holds the executor lock and has run both
 * recoveries). Per executed HARDLINK action:
 *   1. open the target's directory without following symlinks (VerifiedDir) and open the target;
 *   2. it must still be a link of the kept inode: same inode, size and mtime as planned, and
 *      the ctime execute (or this undo) last left on that inode — anything else means someone
 *      changed it since execute: it is left alone and reported;
 *   3. journal the intent (committed before anything is made);
 *   4. copy the content into DIR/.hashall-undo-… (O_EXCL, 0600), hashing what is read; the
 *      hash must be the plan's SHA-256; read the copy back: same hash;
 *   5. owner and group, then mode (chown clears setuid), then atime and mtime; check them;
 *      fsync the copy;
 *   6. journal the copy's inode (committed), re-check the target and the kept inode;
 *   7. rename(copy, target) — atomic: the path names the kept file or its own copy, never
 *      nothing — and check the target is the copy;
 *   8. record the outcome, the target's catalog row (its new inode) and the kept inode's new
 *      ctime and link count in one transaction.
 * A crash anywhere leaves each path with its content; undo-recovery.ts finishes or rolls back.
 *
 * Plans executed before the metadata was recorded: owner, group and mode were equal to the kept
 * file's (execute links nothing else) and the plan holds the target's mtime; only the atime is
 * lost (the kept file's is used). The outcome says so.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import type { DB } from '../catalog/open.js';
import { listDevices } from '../catalog/devices.js';
import {
  ownCtime,
  propagateIdentity,
  recordInodeMeta,
  type ActionRow,
  type PlanRow,
  type PlanStatus,
} from '../catalog/plans.js';
import { recordClone } from '../catalog/clones.js';
import {
  setPlanUndoStatus,
  setUndoOutcome,
  undoCounts,
  undoJournalDone,
  undoJournalIntent,
  undoJournalTempInode,
  undoablePage,
  type OriginalMeta,
  type UndoAction,
} from '../catalog/undo.js';
import { UserError, describeErrno, errnoCode } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { VerifiedDir, openRegular } from '../fs/safe-ops.js';
import { baseName, parentOf } from '../paths.js';
import { displayPath } from '../display-path.js';
import { absolutePath, currentMounts, type MountView } from '../fs/reachability.js';
import { hashFd, micros, utimeArg } from './execute/index.js';
import { planMode } from './mode.js';
import { Pacer } from './pace.js';
import { testActionDelayMs } from '../failpoint.js';

export const UNDO_TEMP_PREFIX = '.hashall-undo-';

export type UndoOutcome =
  /** `legacy`: executed before hashall recorded the target's metadata (see the header). */
  | { kind: 'restored'; legacy: boolean }
  | { kind: 'would-restore'; legacy: boolean }
  | { kind: 'left'; why: string }
  | { kind: 'failed'; error: string };

export interface UndoReport {
  readonly action: ActionRow;
  readonly targetAbs: Buffer | undefined;
  readonly outcome: UndoOutcome;
}

export interface UndoOptions {
  readonly dryRun: boolean;
  readonly shouldStop: () => boolean;
  readonly onAction?: (r: UndoReport) => void;
}

export interface UndoSummary {
  planId: number;
  dryRun: boolean;
  restored: number;
  wouldRestore: number;
  left: number;
  failed: number;
  /** Restored (or would be) without recorded metadata: the atime is the kept file's. */
  legacy: number;
  bytesRestored: number;
  wouldRestoreBytes: number;
  status: PlanStatus;
  interrupted: boolean;
}

/** The path changed since execute: left alone, reported. */
class Changed extends Error {}

const BUF_BYTES = 1 << 20;
const CREATE = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Refuse, with the reason, a plan undo cannot apply to. */
export function checkUndoable(plan: PlanRow): void {
  const id = plan.id;
  if (planMode(plan) === 'reflink') {
    throw new UserError(
      `plan ${id} is a reflink plan: its targets are already independent files with their own owner, mode and times (clones share blocks copy-on-write, and writing one never changes another); there is nothing to undo`,
    );
  }
  switch (plan.status) {
    case 'pending':
      throw new UserError(
        `plan ${id} was never executed: nothing to undo; 'hashall conductor discard ${id}' removes it`,
      );
    case 'executing':
      throw new UserError(
        `plan ${id} is executing now; wait for it to finish (or run 'hashall conductor execute ${id}' to recover a killed run) before undoing it`,
      );
    case 'undone':
      throw new UserError(`plan ${id} is already undone: every replaced path has its own copy`);
    default:
  }
}

export class Undoer {
  private readonly views = new Map<number, MountView[]>();
  private readonly buf = Buffer.allocUnsafeSlow(BUF_BYTES);
  /** The ctime this run left on a kept inode (undoing one path changes it for the next). */
  private readonly ctimes = new Map<string, bigint>();

  constructor(
    private readonly db: DB,
    private readonly plan: PlanRow,
    private readonly opts: UndoOptions,
  ) {
    const mounts = readMountinfo();
    for (const d of listDevices(db)) this.views.set(d.id, currentMounts(d, mounts));
  }

  private abs(deviceId: number, fsPath: Buffer): Buffer | undefined {
    return absolutePath(fsPath, this.views.get(deviceId) ?? []);
  }

  async run(): Promise<UndoSummary> {
    const s: UndoSummary = {
      planId: this.plan.id,
      dryRun: this.opts.dryRun,
      restored: 0,
      wouldRestore: 0,
      left: 0,
      failed: 0,
      legacy: 0,
      bytesRestored: 0,
      wouldRestoreBytes: 0,
      status: this.plan.status,
      interrupted: false,
    };
    if (!this.opts.dryRun) setPlanUndoStatus(this.db, this.plan.id, 'undoing');
    let after = 0;
    // Ctrl-C is heard between paths; a test's action delay slows each path down.
    const pacer = new Pacer(testActionDelayMs());
    outer: for (;;) {
      const page = undoablePage(this.db, this.plan.id, after, 200);
      if (page.length === 0) break;
      for (const u of page) {
        after = u.action.id;
        await pacer.step();
        if (this.opts.shouldStop()) {
          s.interrupted = true;
          break outer;
        }
        const r = this.one(u);
        tally(s, r);
        this.opts.onAction?.(r);
      }
    }
    if (!this.opts.dryRun) {
      const c = undoCounts(this.db, this.plan.id);
      s.status = c.remaining === 0 && !s.interrupted ? 'undone' : 'partially-undone';
      setPlanUndoStatus(this.db, this.plan.id, s.status);
    }
    return s;
  }

  private one(u: UndoAction): UndoReport {
    const { action } = u;
    const targetAbs = this.abs(action.deviceId, action.targetPath);
    const sourceAbs = this.abs(action.sourceDeviceId, action.sourcePath);
    const report = (outcome: UndoOutcome): UndoReport => ({ action, targetAbs, outcome });
    if (!targetAbs || !sourceAbs) {
      return report(
        this.record(u, {
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
      const tgtPath = dir.child(baseName(targetAbs));
      let opened: { fd: number; st: BigIntStats };
      try {
        this.checkLinked(action, lstatSync(tgtPath, { bigint: true }));
        opened = openRegular(tgtPath);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') throw new Changed('removed since execute');
        throw err;
      }
      fd = opened.fd;
      this.checkLinked(action, opened.st);
      const outcome = this.opts.dryRun
        ? this.dryCheck(u, fd)
        : this.restore(u, { dir, fd, tgtPath, targetAbs, sourceAbs });
      return report(outcome.kind === 'would-restore' ? outcome : this.record(u, outcome));
    } catch (err) {
      const outcome: UndoOutcome =
        err instanceof Changed
          ? { kind: 'left', why: `changed since execute: ${err.message}; left alone` }
          : { kind: 'failed', error: describeErrno(err) };
      return report(this.record(u, outcome));
    } finally {
      if (fd !== undefined) closeSync(fd);
      dir?.close();
    }
  }

  /** The outcome on record (not in a dry run); a restored action is recorded by restore(). */
  private record(u: UndoAction, o: UndoOutcome): UndoOutcome {
    if (this.opts.dryRun || o.kind === 'restored' || o.kind === 'would-restore') return o;
    setUndoOutcome(
      this.db,
      u.action.id,
      o.kind === 'left' ? 'left' : 'failed',
      o.kind === 'left' ? o.why : o.error,
    );
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
    let expected = this.ctimes.get(key);
    if (expected === undefined) {
      expected = ownCtime(this.db, a.planId, a.sourceDeviceId, a.sourceInode);
      if (expected !== undefined) this.ctimes.set(key, expected);
    }
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
  private restore(
    u: UndoAction,
    p: { dir: VerifiedDir; fd: number; tgtPath: Buffer; targetAbs: Buffer; sourceAbs: Buffer },
  ): UndoOutcome {
    const { action } = u;
    const tmpName = Buffer.from(
      `${UNDO_TEMP_PREFIX}${this.plan.id}-${action.id}-${randomBytes(4).toString('hex')}`,
    );
    const tmpPath = p.dir.child(tmpName);
    const tempAbs = Buffer.concat([p.dir.abs, Buffer.from('/'), tmpName]);
    this.db
      .transaction(() =>
        undoJournalIntent(this.db, {
          actionId: action.id,
          planId: this.plan.id,
          sourceAbs: p.sourceAbs,
          targetAbs: p.targetAbs,
          tempAbs,
        }),
      )
      .immediate();
    failpoint('undo-after-journal', action.id);
    let tfd: number;
    try {
      tfd = openSync(tmpPath, CREATE, 0o600);
    } catch (err) {
      // EEXIST cannot be ours (a fresh random name): leave it alone.
      undoJournalDone(this.db, action.id);
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
      undoJournalTempInode(this.db, action.id, tempIno);
      this.checkLinked(action, lstatSync(p.tgtPath, { bigint: true }));
      this.checkLinked(action, fstatSync(p.fd, { bigint: true }));
      failpoint('undo-before-rename', action.id);
      renameSync(tmpPath, p.tgtPath);
    } catch (err) {
      closeSync(tfd);
      try {
        unlinkSync(tmpPath);
        undoJournalDone(this.db, action.id);
      } catch {
        // the journal row stays: recovery removes the copy
      }
      throw err;
    }
    closeSync(tfd);
    failpoint('undo-after-rename', action.id);
    const post = lstatSync(p.tgtPath, { bigint: true });
    const kept = fstatSync(p.fd, { bigint: true }); // one link fewer now
    const dev = action.sourceDeviceId;
    this.ctimes.set(`${dev}:${action.sourceInode}`, kept.ctimeNs);
    if (post.ino !== tempIno) {
      // Someone replaced the target between our rename and this check: nothing of ours stands.
      this.db
        .transaction(() => {
          propagateIdentity(
            this.db,
            this.plan.id,
            dev,
            action.sourceInode,
            kept.ctimeNs,
            Number(kept.nlink),
          );
          undoJournalDone(this.db, action.id);
        })
        .immediate();
      throw new Changed('after the rename the path is not our copy (replaced meanwhile)');
    }
    this.db
      .transaction(() => {
        setUndoOutcome(this.db, action.id, 'undone', null);
        recordClone(this.db, action.deviceId, action.targetPath, post);
        propagateIdentity(
          this.db,
          this.plan.id,
          dev,
          action.sourceInode,
          kept.ctimeNs,
          Number(kept.nlink),
        );
        recordInodeMeta(this.db, dev, action.sourceInode, {
          nlink: Number(kept.nlink),
          ctimeNs: kept.ctimeNs,
        });
        undoJournalDone(this.db, action.id);
      })
      .immediate();
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

function tally(s: UndoSummary, r: UndoReport): void {
  const o = r.outcome;
  switch (o.kind) {
    case 'restored':
      s.restored++;
      s.bytesRestored += r.action.size;
      if (o.legacy) s.legacy++;
      break;
    case 'would-restore':
      s.wouldRestore++;
      s.wouldRestoreBytes += r.action.size;
      if (o.legacy) s.legacy++;
      break;
    case 'left':
      s.left++;
      break;
    case 'failed':
      s.failed++;
      break;
  }
}
