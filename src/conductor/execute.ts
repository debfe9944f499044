/**
 * `conductor execute`: replace each planned duplicate with a hardlink, proving at that moment
 * that nothing moved and the bytes are identical (DESIGN §4).
 *
 * Per HARDLINK action:
 *   1. open both parent directories and verify the kernel opened the planned paths;
 *   2. lstat both: regular files, same filesystem, the identity the plan recorded;
 *   3. compare the bytes (or re-hash both against the plan's SHA-256);
 *   4. journal the intent (committed before anything is touched);
 *   5. link(source, DIR/.hashall-tmp-…) in the target's directory;
 *   6. re-check the target and the temp link;
 *   7. rename(temp, target) — atomic: the path names the old file or the new link, never nothing;
 *   8. lstat the target: it must be the source inode; record the outcome (and the catalog rows).
 * A crash at any point leaves every path with its content; the journal lets the next run roll
 * the action forward or back and remove the temp link.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  lstatSync,
  readSync,
  renameSync,
  unlinkSync,
  type BigIntStats,
} from 'node:fs';
import type { DB } from '../catalog/open.js';
import { listDevices } from '../catalog/devices.js';
import {
  actionPage,
  bytesFreed,
  journalDone,
  journalIntent,
  ownCtime,
  propagateIdentity,
  recordInodeMeta,
  recordReplacement,
  setActionOutcome,
  setPlanStatus,
  type ActionRow,
  type PlanRow,
  type PlanStatus,
} from '../catalog/plans.js';
import { describeErrno } from '../errors.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { VerifiedDir, openRegular, sameBytes } from '../fs/safe-ops.js';
import { baseName, parentOf } from '../paths.js';
import { absolutePath, currentMounts, type MountView } from '../scan/reachability.js';
import { failpoint } from '../failpoint.js';

export type Verify = 'bytes' | 'hash';

export type Outcome =
  | { kind: 'executed' }
  | { kind: 'would-link' }
  | { kind: 'noop'; why: string }
  | { kind: 'failed'; error: string };

export interface ActionReport {
  readonly action: ActionRow;
  readonly sourceAbs: Buffer | undefined;
  readonly targetAbs: Buffer | undefined;
  readonly outcome: Outcome;
}

export interface ExecuteOptions {
  readonly dryRun: boolean;
  readonly verify: Verify;
  readonly shouldStop: () => boolean;
  readonly onAction?: (r: ActionReport) => void;
}

export interface ExecuteSummary {
  planId: number;
  dryRun: boolean;
  executed: number;
  wouldLink: number;
  noop: number;
  failed: number;
  skipped: number;
  bytesSaved: number;
  wouldSave: number;
  status: PlanStatus;
  interrupted: boolean;
}

class Stale extends Error {}

const BUF_BYTES = 1 << 20;

/**
 * Identity check allowing for ctime changes this plan's execution made itself (linking changes
 * the ctime of both inodes). Our changes are remembered in memory and, for a resumed run, in
 * the catalog (conductor_inode_state). The catalog rows of touched inodes are brought up to
 * date once per group rather than once per action.
 */
class Expectations {
  private readonly ctimes = new Map<string, bigint>();
  private readonly dirty = new Map<
    string,
    { dev: number; ino: bigint; nlink: number; ctimeNs: bigint }
  >();
  constructor(
    private readonly db: DB,
    private readonly planId: number,
  ) {}
  private key(dev: number, ino: bigint): string {
    return `${dev}:${ino}`;
  }
  ctimeOk(dev: number, ino: bigint, planned: bigint, actual: bigint): boolean {
    if (actual === planned) return true;
    const k = this.key(dev, ino);
    let own = this.ctimes.get(k);
    if (own === undefined) {
      own = ownCtime(this.db, this.planId, dev, ino);
      if (own !== undefined) this.ctimes.set(k, own);
    }
    return own === actual;
  }
  /** Call inside the action's transaction. */
  touched(dev: number, ino: bigint, st: BigIntStats): void {
    const k = this.key(dev, ino);
    this.ctimes.set(k, st.ctimeNs);
    propagateIdentity(this.db, this.planId, dev, ino, st.ctimeNs, Number(st.nlink));
    this.dirty.set(k, { dev, ino, nlink: Number(st.nlink), ctimeNs: st.ctimeNs });
  }
  /** Write the touched inodes' link counts and ctimes into their catalog rows. */
  flush(): void {
    if (this.dirty.size === 0) return;
    this.db
      .transaction(() => {
        for (const d of this.dirty.values()) recordInodeMeta(this.db, d.dev, d.ino, d);
      })
      .immediate();
    this.dirty.clear();
  }
}

function describe(st: BigIntStats): string {
  return `inode ${st.ino}, size ${st.size}, mtime_ns ${st.mtimeNs}`;
}

function checkIdentity(
  what: 'source' | 'target',
  st: BigIntStats,
  dev: number,
  ino: bigint,
  size: number,
  mtimeNs: bigint,
  ctimeNs: bigint,
  exp: Expectations,
): void {
  if (!st.isFile()) throw new Stale(`stale: ${what} is no longer a regular file`);
  const actualIno = BigInt.asIntN(64, st.ino);
  if (actualIno !== ino)
    throw new Stale(
      `stale: ${what} was replaced since the plan (${describe(st)}, planned inode ${ino})`,
    );
  if (st.size !== BigInt(size))
    throw new Stale(`stale: ${what} size changed (${st.size} bytes, planned ${size})`);
  if (st.mtimeNs !== mtimeNs)
    throw new Stale(`stale: ${what} was modified since the plan (mtime changed)`);
  if (!exp.ctimeOk(dev, ino, ctimeNs, st.ctimeNs)) {
    throw new Stale(
      `stale: ${what} changed since the plan (ctime changed: rewritten, chmod/chown or relinked)`,
    );
  }
}

function hashFd(fd: number, buf: Buffer): Buffer {
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

export class Executor {
  private readonly views = new Map<number, MountView[]>();
  private readonly exp: Expectations;
  private readonly bufA = Buffer.allocUnsafeSlow(BUF_BYTES);
  private readonly bufB = Buffer.allocUnsafeSlow(BUF_BYTES);

  constructor(
    private readonly db: DB,
    private readonly plan: PlanRow,
    private readonly opts: ExecuteOptions,
  ) {
    this.exp = new Expectations(db, plan.id);
    const mounts = readMountinfo();
    for (const d of listDevices(db)) this.views.set(d.id, currentMounts(d, mounts));
  }

  private abs(deviceId: number, fsPath: Buffer): Buffer | undefined {
    return absolutePath(fsPath, this.views.get(deviceId) ?? []);
  }

  async run(): Promise<ExecuteSummary> {
    const s: ExecuteSummary = {
      planId: this.plan.id,
      dryRun: this.opts.dryRun,
      executed: 0,
      wouldLink: 0,
      noop: 0,
      failed: 0,
      skipped: 0,
      bytesSaved: 0,
      wouldSave: 0,
      status: this.plan.status,
      interrupted: false,
    };
    if (!this.opts.dryRun) setPlanStatus(this.db, this.plan.id, 'executing');
    let after = 0;
    let lastGroup = -1;
    let lastYield = Date.now();
    // Test-only: slow each action down so a test can interrupt a run in the middle.
    const testDelayMs = Number(process.env.HASHALL_TEST_ACTION_DELAY_MS ?? 0);
    outer: for (;;) {
      const page = actionPage(this.db, this.plan.id, after, 500, ['HARDLINK', 'NOOP', 'SKIP']);
      if (page.length === 0) break;
      for (const action of page) {
        after = action.id;
        if (testDelayMs > 0) {
          await new Promise((r) => setTimeout(r, testDelayMs));
          lastYield = Date.now();
        } else if (Date.now() - lastYield > 50) {
          await new Promise((r) => setImmediate(r)); // let Ctrl-C be heard
          lastYield = Date.now();
        }
        if (this.opts.shouldStop()) {
          s.interrupted = true;
          break outer;
        }
        if (action.groupNo !== lastGroup && !this.opts.dryRun) this.exp.flush();
        lastGroup = action.groupNo;
        const report = this.one(action);
        switch (report.outcome.kind) {
          case 'executed':
            s.executed++;
            break;
          case 'would-link':
            s.wouldLink++;
            s.wouldSave += action.bytes;
            break;
          case 'noop':
            if (action.type === 'SKIP') s.skipped++;
            else s.noop++;
            break;
          case 'failed':
            s.failed++;
            break;
        }
        this.opts.onAction?.(report);
      }
    }
    this.closeDirs();
    if (!this.opts.dryRun) this.exp.flush();
    if (!this.opts.dryRun) {
      s.bytesSaved = bytesFreed(this.db, this.plan.id);
      const failedAny = (
        this.db
          .prepare(
            `SELECT count(*) AS n FROM conductor_actions WHERE plan_id = ? AND status = 'failed'`,
          )
          .get(this.plan.id) as { n: number }
      ).n;
      s.status = s.interrupted ? 'interrupted' : failedAny > 0 ? 'partial' : 'executed';
      setPlanStatus(this.db, this.plan.id, s.status, Date.now());
    }
    return s;
  }

  private one(action: ActionRow): ActionReport {
    const sourceAbs = this.abs(action.sourceDeviceId, action.sourcePath);
    const targetAbs = this.abs(action.deviceId, action.targetPath);
    const report = (outcome: Outcome): ActionReport => ({ action, sourceAbs, targetAbs, outcome });
    if (action.type === 'SKIP') return report({ kind: 'noop', why: action.reason ?? 'skipped' });
    if (action.type === 'NOOP') {
      // Verify the hardlink still stands; record nothing (dry-run or not).
      return report(this.checkNoop(sourceAbs, targetAbs));
    }
    if (!sourceAbs || !targetAbs) {
      return this.fail(
        action,
        report,
        'device not mounted: its filesystem is not reachable at any mount point now',
      );
    }
    let outcome: Outcome;
    try {
      outcome = this.link(action, sourceAbs, targetAbs);
    } catch (err) {
      const msg = err instanceof Stale ? err.message : describeErrno(err);
      return this.fail(action, report, msg);
    }
    if (!this.opts.dryRun && outcome.kind === 'noop' && action.status !== 'executed') {
      setActionOutcome(this.db, action.id, 'noop', null);
    }
    return report(outcome);
  }

  private fail(
    action: ActionRow,
    report: (o: Outcome) => ActionReport,
    error: string,
  ): ActionReport {
    if (!this.opts.dryRun) setActionOutcome(this.db, action.id, 'failed', error);
    return report({ kind: 'failed', error });
  }

  private checkNoop(sourceAbs: Buffer | undefined, targetAbs: Buffer | undefined): Outcome {
    if (!sourceAbs || !targetAbs) return { kind: 'noop', why: 'device not mounted' };
    try {
      const a = lstatSync(sourceAbs, { bigint: true });
      const b = lstatSync(targetAbs, { bigint: true });
      return {
        kind: 'noop',
        why:
          a.ino === b.ino && a.dev === b.dev
            ? 'already linked'
            : 'no longer linked (rescan and re-plan)',
      };
    } catch (err) {
      return { kind: 'noop', why: `cannot check: ${describeErrno(err)}` };
    }
  }

  /**
   * Verified directory fds, a few kept open: the actions of a group share directories. A
   * directory stays the one we walked even if its path is swapped later: that is the point.
   */
  private readonly dirs = new Map<string, VerifiedDir>();

  private dir(abs: Buffer): VerifiedDir {
    const key = abs.toString('latin1');
    const hit = this.dirs.get(key);
    if (hit) {
      this.dirs.delete(key);
      this.dirs.set(key, hit); // most recent last
      return hit;
    }
    const d = VerifiedDir.open(Buffer.from(abs));
    this.dirs.set(key, d);
    if (this.dirs.size > 8) {
      const [oldKey, old] = this.dirs.entries().next().value as [string, VerifiedDir];
      this.dirs.delete(oldKey);
      old.close();
    }
    return d;
  }

  private closeDirs(): void {
    for (const d of this.dirs.values()) d.close();
    this.dirs.clear();
  }

  private checkSource(action: ActionRow, st: BigIntStats): void {
    checkIdentity(
      'source',
      st,
      action.sourceDeviceId,
      action.sourceInode,
      action.size,
      action.sourceMtimeNs,
      action.sourceCtimeNs,
      this.exp,
    );
  }

  private checkTarget(action: ActionRow, st: BigIntStats): void {
    checkIdentity(
      'target',
      st,
      action.deviceId,
      action.targetInode,
      action.size,
      action.targetMtimeNs,
      action.targetCtimeNs,
      this.exp,
    );
  }

  private link(action: ActionRow, sourceAbs: Buffer, targetAbs: Buffer): Outcome {
    const tdir = this.dir(parentOf(targetAbs));
    const fds: number[] = [];
    try {
      const sdir = this.dir(parentOf(sourceAbs));
      const srcPath = sdir.child(baseName(sourceAbs));
      const tgtName = baseName(targetAbs);
      const tgtPath = tdir.child(tgtName);
      const ss = lstatSync(srcPath, { bigint: true });
      const ts = lstatSync(tgtPath, { bigint: true });
      if (ss.isFile() && ts.isFile() && ss.ino === ts.ino && ss.dev === ts.dev) {
        return { kind: 'noop', why: 'already linked' };
      }
      if (ss.dev !== ts.dev) {
        throw new Stale(
          'cross-device: source and target are on different filesystems now (EXDEV); never linked',
        );
      }
      const dev = action.deviceId;
      this.checkSource(action, ss);
      this.checkTarget(action, ts);
      if (ss.mode !== ts.mode || ss.uid !== ts.uid || ss.gid !== ts.gid) {
        throw new Stale(
          'owner/group/mode differ now: a hardlink would change who may read or write the file',
        );
      }

      // Prove the content: open both (no symlink, no FIFO), confirm they are the files stat'ed.
      const src = openRegular(srcPath);
      fds.push(src.fd);
      const tgt = openRegular(tgtPath);
      fds.push(tgt.fd);
      if (src.st.ino !== ss.ino || tgt.st.ino !== ts.ino)
        throw new Stale('stale: a file was replaced while it was opened');
      if (this.opts.verify === 'hash') {
        const hs = hashFd(src.fd, this.bufA);
        const ht = hashFd(tgt.fd, this.bufA);
        if (!action.groupHash || !hs.equals(action.groupHash) || !ht.equals(action.groupHash)) {
          throw new Stale(
            "content mismatch despite matching hash: the files no longer hash to the plan's SHA-256; nothing touched",
          );
        }
      } else if (!sameBytes(src.fd, tgt.fd, action.size, this.bufA, this.bufB)) {
        throw new Stale(
          'content mismatch despite matching hash: the bytes differ; nothing touched (investigate these files)',
        );
      }
      // Nothing may have changed while we compared.
      this.checkSource(action, fstatSync(src.fd, { bigint: true }));
      this.checkTarget(action, fstatSync(tgt.fd, { bigint: true }));

      if (this.opts.dryRun) return { kind: 'would-link' };

      const tmpName = Buffer.from(
        `.hashall-tmp-${this.plan.id}-${action.id}-${randomBytes(4).toString('hex')}`,
      );
      const tmpPath = tdir.child(tmpName);
      const tempAbs = Buffer.concat([tdir.abs, Buffer.from('/'), tmpName]);
      journalIntent(this.db, {
        actionId: action.id,
        planId: this.plan.id,
        sourceAbs,
        targetAbs,
        tempAbs,
      });
      failpoint('after-journal', action.id);
      try {
        linkSync(srcPath, tmpPath);
      } catch (err) {
        journalDone(this.db, action.id);
        throw err;
      }
      failpoint('after-link', action.id);
      let renamed = false;
      try {
        const t2 = lstatSync(tgtPath, { bigint: true });
        this.checkTarget(action, t2);
        const tmpSt = lstatSync(tmpPath, { bigint: true });
        if (tmpSt.ino !== ss.ino)
          throw new Stale(
            'stale: the temporary link is not the source (source replaced while linking)',
          );
        // The source inode must still hold the bytes we compared (our link moved its ctime, so
        // mtime and size are what can be checked here).
        const s1 = fstatSync(src.fd, { bigint: true });
        if (s1.mtimeNs !== action.sourceMtimeNs || s1.size !== BigInt(action.size)) {
          throw new Stale('stale: the source was modified while linking');
        }
        failpoint('before-rename', action.id);
        renameSync(tmpPath, tgtPath);
        renamed = true;
      } finally {
        if (!renamed) {
          try {
            unlinkSync(tmpPath);
            journalDone(this.db, action.id);
          } catch {
            // the journal row stays: recovery will remove the temp link
          }
          // Linking and unlinking moved the source's ctime: that was us.
          const s2 = fstatSync(src.fd, { bigint: true });
          this.exp.touched(dev, action.sourceInode, s2);
        }
      }
      failpoint('after-rename', action.id);
      const post = lstatSync(tgtPath, { bigint: true });
      const oldTarget = fstatSync(tgt.fd, { bigint: true }); // the replaced inode: one link fewer now
      const newSource = fstatSync(src.fd, { bigint: true });
      if (post.ino !== ss.ino) {
        journalDone(this.db, action.id);
        throw new Stale(
          'after rename the target is not the source inode (something else replaced it meanwhile)',
        );
      }
      this.db
        .transaction(() => {
          setActionOutcome(this.db, action.id, 'executed', null);
          journalDone(this.db, action.id);
          recordReplacement(this.db, dev, action.targetPath, action.sourceInode, {
            nlink: Number(newSource.nlink),
            ctimeNs: newSource.ctimeNs,
            mtimeNs: newSource.mtimeNs,
          });
          this.exp.touched(dev, action.sourceInode, newSource);
          if (oldTarget.nlink > 0n) this.exp.touched(dev, action.targetInode, oldTarget);
        })
        .immediate();
      failpoint('after-commit', action.id);
      return { kind: 'executed' };
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }
}
