/**
 * `conductor execute`: replace each planned duplicate with a hardlink, proving at that moment
 * that nothing moved and the bytes are identical (DESIGN §4).
 *
 * Actions run in batches (up to MAX_BATCH, fewer under a low open-files limit: fd-budget.ts).
 * Per HARDLINK action:
 *   1. open both parent directories and verify the kernel opened the planned paths;
 *   2. lstat both: regular files, same filesystem, the identity the plan recorded;
 *   3. compare the bytes (or re-hash both against the plan's SHA-256);
 * then, for the verified actions of the batch:
 *   4. journal every intent in one transaction (committed before anything is touched);
 * and per action:
 *   5. link(source, DIR/.hashall-tmp-…) in the target's directory;
 *   6. re-check the target's and the source's identity and the temp link;
 *   7. rename(temp, target) — atomic: the path names the old file or the new link, never nothing;
 *   8. lstat the target: it must be the source inode;
 * and finally record the outcomes (and the catalog rows) of one or more batches (up to
 * OUTCOME_ACTIONS) in one transaction.
 * A crash at any point leaves every path with its content; the journal lets the next run roll
 * each journaled action forward (the target is the source inode) or back (it is not), and
 * remove any temp link. Batching the commits is what makes execute cost a few syscalls per
 * action rather than two SQLite commits; it widens no check window: steps 6-8 still run
 * immediately around each rename.
 *
 * A reflink plan replaces steps 5-8 (cloneOne): in a private staging directory
 * (DIR/.hashall-tmp-…/, 0700) FICLONE the verified source fd into a new file, check its size,
 * give it the target's owner, group, mode, atime and mtime and check them, journal the clone's
 * inode (one small commit), re-check target and source, rename the clone over the target,
 * check the target is the clone, remove the staging directory. Owner and mode may differ
 * between source and target: the clone is a new inode with the target's metadata. Recovery
 * rolls forward when the target is the journaled clone inode, back otherwise.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  close,
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  linkSync,
  lstatSync,
  readSync,
  renameSync,
  unlinkSync,
  type BigIntStats,
} from 'node:fs';
import type { DB } from '../catalog/open.js';
import { listDevices } from '../catalog/devices.js';
import { actionPage, bytesFreed, countActions, type ActionRow } from '../catalog/actions.js';
import { setPlanStatus, type PlanRow, type PlanStatus } from '../catalog/plans.js';
import {
  journalIntents,
  recordOutcomes,
  recordVerdicts,
  type AppliedOutcome,
  type InodeChange,
  type Verdict,
} from '../catalog/execution.js';
import { ownCtime } from '../catalog/replacement.js';
import { bytesShared, catalogInode, journalCloneInode } from '../catalog/clones.js';
import { EXIT, UserError, describeErrno } from '../errors.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { CloneStage, cloneErrorText } from '../fs/reflink.js';
import { openRegular, sameBytes, type VerifiedDir } from '../fs/safe-ops.js';
import { TEMP_PREFIX } from '../fs/temp-name.js';
import { DirCache } from './dir-cache.js';
import {
  fdBudget,
  isFdExhaustion,
  openFdCount,
  openFilesLimit,
  type FdBudget,
} from './fd-budget.js';
import { planMode, type Mode } from './mode.js';
import { ALREADY_SHARED } from './reflink-plan.js';
import { baseName, parentOf } from '../paths.js';
import { absolutePath, currentMounts, type MountView } from '../fs/reachability.js';
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
  /**
   * Each action as soon as it is checked, before its report (reports come in batches, and a dry
   * run's all at the end): what a progress bar counts.
   */
  readonly onChecked?: (action: ActionRow) => void;
}

export interface ExecuteSummary {
  planId: number;
  dryRun: boolean;
  executed: number;
  wouldLink: number;
  noop: number;
  failed: number;
  skipped: number;
  /** Bytes this run freed (reflink: shared): what its own replacements completed. */
  bytesSaved: number;
  /** Bytes the plan has freed (shared) in all, over every run of it so far. */
  planBytesSaved: number;
  wouldSave: number;
  status: PlanStatus;
  interrupted: boolean;
}

class Stale extends Error {}

/** The process (EMFILE) or the system (ENFILE) ran out of descriptors: never an action's fault. */
class OutOfFds extends Error {
  constructor(readonly errnoError: unknown) {
    super(describeErrno(errnoError));
  }
}

const BUF_BYTES = 1 << 20;
/**
 * Applied actions per outcome commit, spanning several batches (their journal rows stand
 * until then). Each outcome transaction rewrites every catalog page its rows fall on (the
 * replaced paths' rows and their three indexes, spread over the whole catalog): one
 * transaction per batch wrote ~250,000 pages for the reference tree's 27,000 actions.
 * Also recorded at least every OUTCOME_MS, so that progress is reported as it happens.
 */
const OUTCOME_ACTIONS = 2048;
const OUTCOME_MS = 2000;
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
  /**
   * We just changed this inode (link, rename, unlink of our temp link): later checks in this
   * run must expect the new ctime. The catalog learns it in the batch's outcome transaction.
   */
  touched(dev: number, ino: bigint, st: BigIntStats): void {
    const k = this.key(dev, ino);
    this.ctimes.set(k, st.ctimeNs);
    this.dirty.set(k, { dev, ino, nlink: Number(st.nlink), ctimeNs: st.ctimeNs });
  }
  /** Our changes since the last call, for the next outcome transaction. */
  drain(): InodeChange[] {
    const list = [...this.dirty.values()].map((d) => ({
      deviceId: d.dev,
      inode: d.ino,
      nlink: d.nlink,
      ctimeNs: d.ctimeNs,
    }));
    this.dirty.clear();
    return list;
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

/** A HARDLINK action whose identity and bytes were proven, waiting for its batch's journal. */
interface Verified {
  readonly action: ActionRow;
  readonly sourceAbs: Buffer;
  readonly targetAbs: Buffer;
  readonly srcPath: Buffer;
  readonly tgtPath: Buffer;
  readonly tmpPath: Buffer;
  readonly tempAbs: Buffer;
  readonly srcFd: number;
  readonly tgtFd: number;
  readonly sourceIno: bigint;
  /** The target as lstat saw it before we read it (reflink: the clone takes its metadata). */
  readonly targetSt: BigIntStats;
  readonly tdir: VerifiedDir;
  /** The source's directory: srcPath names the source through it. */
  readonly sdir: VerifiedDir;
  readonly tmpName: Buffer;
}

type Prepared = { kind: 'verified'; v: Verified } | { kind: 'done'; report: ActionReport };

/** What a report and the outcome transaction need of an applied action (not its paths and fds). */
type Done = Pick<Verified, 'action' | 'sourceAbs' | 'targetAbs'>;

/**
 * What step 5-8 did to one verified action, recorded in a later outcome transaction (held
 * until then, so it keeps only `Done` of the verified action).
 */
type Applied =
  | { kind: 'executed'; v: Done; newSource: BigIntStats }
  | { kind: 'cloned'; v: Done; clone: BigIntStats; journalClear: boolean }
  | { kind: 'failed'; v: Done; error: string; journalClear: boolean };

/**
 * A time for futimes(): Node passes seconds as a double and libuv keeps whole microseconds, so
 * the sub-microsecond digits cannot be set; aim at the middle of the microsecond so that the
 * double's rounding cannot move it into the next or previous one.
 */
export function utimeArg(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  let rem = ns % 1_000_000_000n;
  if (rem < 0n) {
    sec -= 1n;
    rem += 1_000_000_000n;
  }
  return Number(sec) + (Number(rem / 1000n) * 1000 + 500) / 1e9;
}

/** Whole microseconds (floor), the precision a clone's times are set to. */
export function micros(ns: bigint): bigint {
  return ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n);
}

export class Executor {
  private readonly views = new Map<number, MountView[]>();
  private readonly exp: Expectations;
  private readonly bufA = Buffer.allocUnsafeSlow(BUF_BYTES);
  private readonly bufB = Buffer.allocUnsafeSlow(BUF_BYTES);
  private readonly mode: Mode;
  private readonly budget: FdBudget;
  private readonly dirs: DirCache;

  constructor(
    private readonly db: DB,
    private readonly plan: PlanRow,
    private readonly opts: ExecuteOptions,
  ) {
    this.exp = new Expectations(db, plan.id);
    this.mode = planMode(plan);
    const mounts = readMountinfo();
    for (const d of listDevices(db)) this.views.set(d.id, currentMounts(d, mounts));
    const limit = openFilesLimit();
    const budget = fdBudget(limit, openFdCount());
    if (!budget) {
      throw new UserError(
        `the open-files limit (${limit}) leaves too few descriptors to ${opts.dryRun ? 'check' : 'execute'} plan ${plan.id}; raise it ('ulimit -n 1024') and run again`,
      );
    }
    this.budget = budget;
    this.dirs = new DirCache(budget.dirCache);
  }

  /** Random bytes for temp names, drawn 4 at a time (one randomBytes call per action was 2%). */
  private randomPool = Buffer.alloc(0);
  private randomAt = 0;

  /** 8 random hex digits. */
  private random8(): string {
    if (this.randomAt + 4 > this.randomPool.length) {
      this.randomPool = randomBytes(4096);
      this.randomAt = 0;
    }
    this.randomAt += 4;
    return this.randomPool.toString('hex', this.randomAt - 4, this.randomAt);
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
      planBytesSaved: 0,
      wouldSave: 0,
      status: this.plan.status,
      interrupted: false,
    };
    const savedBefore = this.planSaved();
    if (!this.opts.dryRun) setPlanStatus(this.db, this.plan.id, 'executing');
    let after = 0;
    let lastYield = Date.now();
    // Test-only: slow each action down so a test can interrupt a run in the middle.
    const testDelayMs = Number(process.env.HASHALL_TEST_ACTION_DELAY_MS ?? 0);
    // Reports are emitted in plan order, those of verified actions once their outcome is
    // recorded: `pending` holds every action since the last outcome transaction.
    const pending: ({ kind: 'done'; report: ActionReport } | { kind: 'verified'; id: number })[] =
      [];
    // Verified, not yet journaled (holding their fds); done on disk, outcome not yet recorded.
    const batch: Verified[] = [];
    const applied: Applied[] = [];
    let lastRecord = Date.now();
    let outOfFds: { error: OutOfFds; actionId: number } | undefined;
    const emit = (r: ActionReport) => {
      tally(s, r);
      this.opts.onAction?.(r);
    };
    const link = () => {
      // applyBatch owns (and closes) the fds of the verified actions from here on.
      if (batch.length > 0) for (const a of this.applyBatch(batch.splice(0))) applied.push(a);
      this.dirs.trim();
    };
    const record = () => {
      this.recordVerdicts();
      const reports = this.recordOutcomes(applied.splice(0));
      lastRecord = Date.now();
      for (const p of pending.splice(0)) {
        if (p.kind === 'done') emit(p.report);
        else {
          // Absent: verified but never journaled (the run was stopped first), left pending.
          const r = reports.get(p.id);
          if (r) emit(r);
        }
      }
    };
    try {
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
          let p: Prepared;
          try {
            p = this.prepare(action);
          } catch (err) {
            if (!(err instanceof OutOfFds)) throw err;
            // Give back every descriptor we hold (apply the batch, let the closes finish, close
            // the directories) and try once more: only then is the limit to blame.
            link();
            await this.settleCloses(0);
            this.dirs.closeAll();
            try {
              p = this.prepare(action);
            } catch (again) {
              if (!(again instanceof OutOfFds)) throw again;
              outOfFds = { error: again, actionId: action.id };
              s.interrupted = true;
              break outer;
            }
          }
          this.opts.onChecked?.(action);
          if (p.kind === 'done') pending.push(p);
          else {
            pending.push({ kind: 'verified', id: p.v.action.id });
            batch.push(p.v);
          }
          if (batch.length >= this.budget.batch || testDelayMs > 0) {
            link();
            await this.settleCloses(this.budget.batch);
          }
          if (
            applied.length >= OUTCOME_ACTIONS ||
            this.verdicts.length >= OUTCOME_ACTIONS ||
            (applied.length > 0 && Date.now() - lastRecord > OUTCOME_MS) ||
            testDelayMs > 0
          ) {
            record();
          }
        }
      }
      // Stop means stop: verified actions not yet journaled are left pending, untouched.
      if (s.interrupted) for (const v of batch.splice(0)) this.closeFds(v);
      link();
      record();
    } finally {
      for (const v of batch) this.closeFds(v);
      // Verdicts reached before an unexpected error are still true: keep them.
      if (this.verdicts.length > 0) this.recordVerdicts();
      this.dirs.closeAll();
      await this.settleCloses(0);
    }
    s.planBytesSaved = this.planSaved();
    if (!this.opts.dryRun) {
      // An inode counts for the run that replaced its last planned link.
      s.bytesSaved = s.planBytesSaved - savedBefore;
      const failedAny = countActions(this.db, this.plan.id, 'failed');
      s.status = s.interrupted ? 'interrupted' : failedAny > 0 ? 'partial' : 'executed';
      setPlanStatus(this.db, this.plan.id, s.status, Date.now());
    }
    if (outOfFds) {
      const limit = this.budget.limit === undefined ? '' : ` (limit ${this.budget.limit})`;
      throw new UserError(
        `${outOfFds.error.message} at action #${outOfFds.actionId} of plan ${this.plan.id}${limit}, even after closing every descriptor hashall held: ${
          this.opts.dryRun
            ? 'the check stopped there and changed nothing'
            : `stopped there; what was done is recorded and the plan is '${s.status}'`
        }. Raise the limit ('ulimit -n') or close other programs' files, and run it again`,
        EXIT.partial,
      );
    }
    return s;
  }

  /**
   * NOOP and failed outcomes of checked actions (real runs only), written in one transaction
   * with the next outcomes rather than one commit each: a plan may hold many thousands.
   */
  private readonly verdicts: Verdict[] = [];

  private noteNoop(action: ActionRow, note: string | null): void {
    if (!this.opts.dryRun) this.verdicts.push({ actionId: action.id, status: 'noop', note });
  }

  private recordVerdicts(): void {
    recordVerdicts(this.db, this.verdicts.splice(0));
  }

  /** Bytes the plan's executed actions have freed (reflink: shared) so far, in all runs. */
  private planSaved(): number {
    return this.mode === 'reflink'
      ? bytesShared(this.db, this.plan.id)
      : bytesFreed(this.db, this.plan.id);
  }

  /** Steps 1-3 for one action: a final report, or a verified action holding its open fds. */
  private prepare(action: ActionRow): Prepared {
    const sourceAbs = this.abs(action.sourceDeviceId, action.sourcePath);
    const targetAbs = this.abs(action.deviceId, action.targetPath);
    const done = (outcome: Outcome): Prepared => ({
      kind: 'done',
      report: { action, sourceAbs, targetAbs, outcome },
    });
    if (action.type === 'SKIP') return done({ kind: 'noop', why: action.reason ?? 'skipped' });
    if (action.type === 'NOOP') {
      // A target found sharing every block with the kept file when the plan was made; else
      // verify the hardlink still stands. A real run records the outcome (the note says why
      // when the link no longer stands); a dry run records nothing.
      const outcome: Outcome =
        action.reason === ALREADY_SHARED
          ? { kind: 'noop', why: ALREADY_SHARED }
          : this.checkNoop(sourceAbs, targetAbs);
      if (action.status === 'pending' && outcome.kind === 'noop') {
        this.noteNoop(
          action,
          outcome.why === 'already linked' || outcome.why === ALREADY_SHARED ? null : outcome.why,
        );
      }
      return done(outcome);
    }
    if (this.mode === 'reflink' && action.status === 'executed') {
      // Done before (this run was resumed): the target is a new inode now, never the planned one.
      return done(this.checkCloned(action, targetAbs));
    }
    if (!sourceAbs || !targetAbs) {
      return done(
        this.fail(
          action,
          'device not mounted: its filesystem is not reachable at any mount point now',
        ),
      );
    }
    try {
      const r = this.verify(action, sourceAbs, targetAbs);
      if (r.kind === 'verified') return r;
      if (r.outcome.kind === 'noop' && action.status !== 'executed') this.noteNoop(action, null);
      return done(r.outcome);
    } catch (err) {
      // Our own shortage, not the file's: the action is tried again, never failed for it.
      if (isFdExhaustion(err)) throw new OutOfFds(err);
      return done(this.fail(action, err instanceof Stale ? err.message : describeErrno(err)));
    }
  }

  private fail(action: ActionRow, error: string): Outcome {
    if (!this.opts.dryRun)
      this.verdicts.push({ actionId: action.id, status: 'failed', note: error });
    return { kind: 'failed', error };
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

  /** An executed reflink action: is the target still the clone the catalog recorded? */
  private checkCloned(action: ActionRow, targetAbs: Buffer | undefined): Outcome {
    if (!targetAbs) return { kind: 'noop', why: 'device not mounted' };
    try {
      const st = lstatSync(targetAbs, { bigint: true });
      const inode = catalogInode(this.db, action.deviceId, action.targetPath);
      return {
        kind: 'noop',
        why:
          st.isFile() && inode !== undefined && BigInt.asIntN(64, st.ino) === inode
            ? 'already cloned'
            : 'no longer the clone made (rescan and re-plan)',
      };
    } catch (err) {
      return { kind: 'noop', why: `cannot check: ${describeErrno(err)}` };
    }
  }

  /**
   * Closing the replaced target's fd drops its last reference: the kernel frees the old inode
   * and its blocks then (with discard, waiting on the device). That was a third of execute's
   * time on the main thread, so it happens on libuv's thread pool, a bounded number at once.
   */
  private closing = 0;
  private closeWaiter: { max: number; resolve: () => void } | undefined;

  /** Close a verified action's files and unpin its directories. */
  private closeFds(v: Verified): void {
    this.dirs.unpin(v.tdir);
    this.dirs.unpin(v.sdir);
    closeSync(v.srcFd);
    this.closing++;
    close(v.tgtFd, () => {
      this.closing--;
      const w = this.closeWaiter;
      if (w && this.closing <= w.max) {
        this.closeWaiter = undefined;
        w.resolve();
      }
    });
  }

  /**
   * Wait until at most `max` closes are in flight. A counter and one waiter: racing a promise
   * per close (Promise.race over all of them, once per completed close) was quadratic.
   */
  private settleCloses(max: number): Promise<void> {
    if (this.closing <= max) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiter = { max, resolve };
    });
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

  /**
   * Steps 1-3. On success the two fds stay open and the two directories pinned for the batch;
   * otherwise they are closed and unpinned.
   */
  private verify(
    action: ActionRow,
    sourceAbs: Buffer,
    targetAbs: Buffer,
  ): { kind: 'verified'; v: Verified } | { kind: 'outcome'; outcome: Outcome } {
    const tdir = this.dirs.get(parentOf(targetAbs));
    this.dirs.pin(tdir);
    let sdir: VerifiedDir | undefined;
    let r: { kind: 'verified'; v: Verified } | { kind: 'outcome'; outcome: Outcome } | undefined;
    try {
      sdir = this.dirs.get(parentOf(sourceAbs));
      this.dirs.pin(sdir);
      r = this.verifyIn(action, sourceAbs, targetAbs, tdir, sdir);
      return r;
    } finally {
      if (r?.kind !== 'verified') {
        this.dirs.unpin(tdir);
        if (sdir) this.dirs.unpin(sdir);
      }
    }
  }

  private verifyIn(
    action: ActionRow,
    sourceAbs: Buffer,
    targetAbs: Buffer,
    tdir: VerifiedDir,
    sdir: VerifiedDir,
  ): { kind: 'verified'; v: Verified } | { kind: 'outcome'; outcome: Outcome } {
    const srcPath = sdir.child(baseName(sourceAbs));
    const tgtName = baseName(targetAbs);
    const tgtPath = tdir.child(tgtName);
    const ss = lstatSync(srcPath, { bigint: true });
    const ts = lstatSync(tgtPath, { bigint: true });
    if (ss.isFile() && ts.isFile() && ss.ino === ts.ino && ss.dev === ts.dev) {
      return { kind: 'outcome', outcome: { kind: 'noop', why: 'already linked' } };
    }
    if (ss.dev !== ts.dev) {
      throw new Stale(
        'cross-device: source and target are on different filesystems now (EXDEV); never linked',
      );
    }
    this.checkSource(action, ss);
    this.checkTarget(action, ts);
    // A clone is a new inode that takes the target's own owner, group and mode.
    if (
      this.mode === 'hardlink' &&
      (ss.mode !== ts.mode || ss.uid !== ts.uid || ss.gid !== ts.gid)
    ) {
      throw new Stale(
        'owner/group/mode differ now: a hardlink would change who may read or write the file',
      );
    }
    // Prove the content: open both (no symlink, no FIFO), confirm they are the files stat'ed.
    const fds: number[] = [];
    let keep = false;
    try {
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
      if (this.opts.dryRun) return { kind: 'outcome', outcome: { kind: 'would-link' } };

      const tmpName = Buffer.from(`${TEMP_PREFIX}${this.plan.id}-${action.id}-${this.random8()}`);
      keep = true;
      return {
        kind: 'verified',
        v: {
          action,
          sourceAbs,
          targetAbs,
          srcPath,
          tgtPath,
          tmpPath: tdir.child(tmpName),
          tempAbs: Buffer.concat([tdir.abs, Buffer.from('/'), tmpName]),
          srcFd: src.fd,
          tgtFd: tgt.fd,
          sourceIno: ss.ino,
          targetSt: ts,
          tdir,
          sdir,
          tmpName,
        },
      };
    } finally {
      if (!keep) for (const fd of fds) closeSync(fd);
    }
  }

  /**
   * Steps 4-8 for a batch of verified actions: every intent in one transaction, then each
   * action on disk. Their outcomes are recorded later, by recordOutcomes.
   */
  private applyBatch(batch: Verified[]): Applied[] {
    const applied: Applied[] = [];
    try {
      journalIntents(
        this.db,
        batch.map((v) => ({
          journal: {
            actionId: v.action.id,
            planId: this.plan.id,
            sourceAbs: v.sourceAbs,
            targetAbs: v.targetAbs,
            tempAbs: v.tempAbs,
          },
          // What the target was, for `conductor undo` (a clone keeps the target's own).
          ...(this.mode === 'hardlink' ? { originalTarget: v.targetSt } : {}),
        })),
      );
      for (const v of batch) {
        const a = this.mode === 'reflink' ? this.cloneOne(v) : this.linkOne(v);
        applied.push({
          ...a,
          v: { action: v.action, sourceAbs: v.sourceAbs, targetAbs: v.targetAbs },
        });
      }
    } finally {
      for (const v of batch) this.closeFds(v);
    }
    return applied;
  }

  /**
   * The outcomes of applied actions (of one or more batches), the catalog rows of the paths
   * they replaced and the inodes they touched, in one transaction; until it commits, their
   * journal rows let recovery roll each forward or back.
   */
  private recordOutcomes(applied: Applied[]): Map<number, ActionReport> {
    const reports = new Map<number, ActionReport>();
    if (applied.length === 0) return reports;
    recordOutcomes(this.db, {
      planId: this.plan.id,
      outcomes: applied.map((a): AppliedOutcome => {
        const { action } = a.v;
        switch (a.kind) {
          case 'cloned':
            return { kind: 'cloned', action, clone: a.clone, journalClear: a.journalClear };
          case 'executed':
            return {
              kind: 'linked',
              action,
              source: {
                nlink: Number(a.newSource.nlink),
                ctimeNs: a.newSource.ctimeNs,
                mtimeNs: a.newSource.mtimeNs,
              },
            };
          case 'failed':
            return { kind: 'failed', action, error: a.error, journalClear: a.journalClear };
        }
      }),
      inodes: this.exp.drain(),
    });
    for (const a of applied) {
      failpoint('after-commit', a.v.action.id);
      const outcome: Outcome =
        a.kind === 'failed' ? { kind: 'failed', error: a.error } : { kind: 'executed' };
      reports.set(a.v.action.id, {
        action: a.v.action,
        sourceAbs: a.v.sourceAbs,
        targetAbs: a.v.targetAbs,
        outcome,
      });
    }
    return reports;
  }

  /**
   * Reflink steps 5-8 for one journaled action (see the header). Failures are outcomes, never
   * exceptions; whatever is left in the staging directory is removed, or stays journaled.
   */
  private cloneOne(v: Verified): Applied {
    const { action } = v;
    const dev = action.deviceId;
    const t = v.targetSt;
    failpoint('after-journal', action.id);
    let stage: CloneStage;
    try {
      stage = CloneStage.create(v.tdir, v.tmpName);
    } catch (err) {
      // EEXIST cannot be ours (a fresh random name): leave it, and the journal row with it.
      return { kind: 'failed', v, error: describeErrno(err), journalClear: true };
    }
    let cloneFd: number | undefined;
    let cloneIno: bigint;
    try {
      try {
        stage.clone(v.srcFd);
      } catch (err) {
        throw new Stale(cloneErrorText(err));
      }
      failpoint('after-clone', action.id);
      const c = openRegular(stage.clonePath);
      cloneFd = c.fd;
      if (c.st.size !== BigInt(action.size) || c.st.nlink !== 1n)
        throw new Stale(
          `the clone is not a whole copy (${c.st.size} bytes, planned ${action.size})`,
        );
      if (this.opts.verify === 'hash') {
        const h = hashFd(cloneFd, this.bufA);
        if (!action.groupHash || !h.equals(action.groupHash))
          throw new Stale("content mismatch: the clone does not hash to the plan's SHA-256");
      }
      // The target's metadata: owner first (chown clears setuid/setgid), then mode, then times.
      fchownSync(cloneFd, Number(t.uid), Number(t.gid));
      fchmodSync(cloneFd, Number(t.mode & 0o7777n));
      futimesSync(cloneFd, utimeArg(t.atimeNs), utimeArg(t.mtimeNs));
      const cs = fstatSync(cloneFd, { bigint: true });
      if (cs.uid !== t.uid || cs.gid !== t.gid || cs.mode !== t.mode) {
        throw new Stale(
          `the clone could not take the target's owner, group and mode (${cs.uid}:${cs.gid} ${(cs.mode & 0o7777n).toString(8)}, wanted ${t.uid}:${t.gid} ${(t.mode & 0o7777n).toString(8)})`,
        );
      }
      if (micros(cs.mtimeNs) !== micros(t.mtimeNs))
        throw new Stale("the clone could not take the target's modification time");
      cloneIno = cs.ino;
      failpoint('after-clone-meta', action.id);
      // On record before it replaces anything: recovery recognises our clone by this inode.
      journalCloneInode(this.db, action.id, cloneIno);
      const t2 = lstatSync(v.tgtPath, { bigint: true });
      this.checkTarget(action, t2);
      // The source inode must still hold the bytes we compared (cloning leaves its ctime alone).
      this.checkSource(action, fstatSync(v.srcFd, { bigint: true }));
      failpoint('before-rename', action.id);
      renameSync(stage.clonePath, v.tgtPath);
    } catch (err) {
      if (cloneFd !== undefined) closeSync(cloneFd);
      const journalClear = stage.remove();
      const error = err instanceof Stale ? err.message : describeErrno(err);
      return { kind: 'failed', v, error, journalClear };
    }
    failpoint('after-rename', action.id);
    closeSync(cloneFd);
    const post = lstatSync(v.tgtPath, { bigint: true });
    const oldTarget = fstatSync(v.tgtFd, { bigint: true }); // the replaced inode: one link fewer
    if (oldTarget.nlink > 0n) this.exp.touched(dev, action.targetInode, oldTarget);
    const journalClear = stage.remove();
    if (post.ino !== cloneIno) {
      return {
        kind: 'failed',
        v,
        error: 'after rename the target is not our clone (something else replaced it meanwhile)',
        journalClear,
      };
    }
    return { kind: 'cloned', v, clone: post, journalClear };
  }

  /** Steps 5-8 for one journaled action. Failures are outcomes, never exceptions. */
  private linkOne(v: Verified): Applied {
    const { action } = v;
    const dev = action.deviceId;
    failpoint('after-journal', action.id);
    try {
      linkSync(v.srcPath, v.tmpPath);
    } catch (err) {
      return { kind: 'failed', v, error: describeErrno(err), journalClear: true };
    }
    failpoint('after-link', action.id);
    try {
      const t2 = lstatSync(v.tgtPath, { bigint: true });
      this.checkTarget(action, t2);
      const tmpSt = lstatSync(v.tmpPath, { bigint: true });
      if (tmpSt.ino !== v.sourceIno)
        throw new Stale(
          'stale: the temporary link is not the source (source replaced while linking)',
        );
      // The source inode must still hold the bytes we compared (our link moved its ctime, so
      // mtime and size are what can be checked here).
      const s1 = fstatSync(v.srcFd, { bigint: true });
      if (s1.mtimeNs !== action.sourceMtimeNs || s1.size !== BigInt(action.size)) {
        throw new Stale('stale: the source was modified while linking');
      }
      failpoint('before-rename', action.id);
      renameSync(v.tmpPath, v.tgtPath);
    } catch (err) {
      let journalClear = false;
      try {
        unlinkSync(v.tmpPath);
        journalClear = true;
      } catch {
        // the journal row stays: recovery will remove the temp link
      }
      // Linking and unlinking moved the source's ctime: that was us.
      this.exp.touched(dev, action.sourceInode, fstatSync(v.srcFd, { bigint: true }));
      const error = err instanceof Stale ? err.message : describeErrno(err);
      return { kind: 'failed', v, error, journalClear };
    }
    failpoint('after-rename', action.id);
    const post = lstatSync(v.tgtPath, { bigint: true });
    const oldTarget = fstatSync(v.tgtFd, { bigint: true }); // the replaced inode: one link fewer now
    const newSource = fstatSync(v.srcFd, { bigint: true });
    this.exp.touched(dev, action.sourceInode, newSource);
    if (oldTarget.nlink > 0n) this.exp.touched(dev, action.targetInode, oldTarget);
    if (post.ino !== v.sourceIno) {
      return {
        kind: 'failed',
        v,
        error:
          'after rename the target is not the source inode (something else replaced it meanwhile)',
        journalClear: true,
      };
    }
    return { kind: 'executed', v, newSource };
  }
}

function tally(s: ExecuteSummary, r: ActionReport): void {
  switch (r.outcome.kind) {
    case 'executed':
      s.executed++;
      break;
    case 'would-link':
      s.wouldLink++;
      s.wouldSave += r.action.bytes;
      break;
    case 'noop':
      if (r.action.type === 'SKIP') s.skipped++;
      else s.noop++;
      break;
    case 'failed':
      s.failed++;
      break;
  }
}
