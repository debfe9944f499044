/**
 * What a PostgreSQL scan writes behind its walk, on one connection: new directory rows
 * (dir-rows.ts), new file rows (file-rows.ts), hash results and inode marks (hash-rows.ts).
 * Their ids are handed out at once (id-blocks.ts), so the walk goes on; a batch is sent as one
 * queued step of a few statements, in that order (a file row needs its directory's row, a
 * hash its file's), while the walk lists and hashes the next directories. On two cores the
 * server inserts one batch while the client prepares the next, instead of each waiting for
 * the other: the whole first scan of the reference tree waited on the server for 12 of its
 * 16 s when every batch and directory was a round trip.
 *
 * Nothing may read or depend on what is still queued, so `sync()` (send what is buffered and
 * wait for every queued step) comes before every statement that could: each COMMIT (tx.ts),
 * the end of a walk, a probe of a device's inodes, the hash stages, any directory the walk
 * merges by its own statements (tree.ts). A scan stopped mid-way therefore commits every row
 * it saw, as on SQLite. A queued step that fails ends the queue; the next `sync()` throws its
 * error, and a ROLLBACK (`discard()`) first waits for the step in flight and drops the rest,
 * so nothing is written outside the transaction.
 */
import type pg from 'pg';
import type { InodeRef, ReadDigests } from '../hashing.js';
import type { NewFileRow } from '../scan-port.js';
import { claimDevices } from './dirty-devices.js';
import { writeDirRows, type BufferedDir, type DirRemap } from './dir-rows.js';
import { FileRowBuffer, type BufferedIdentity } from './file-rows.js';
import { markInodes, writeHashes, type StoredHash } from './hash-rows.js';
import { IdBlocks } from './id-blocks.js';

/** Buffered rows or results that make a batch: large enough that per-statement costs vanish. */
export const BATCH_ROWS = 4096;
/**
 * Rows without their full hash kept back from a batch at most (file-rows.ts `takeReady`), for
 * the walk to give them their hashes before they are written; all are written at the next
 * COMMIT (every second or 20,000 files, ../../scan/root-scan.ts) or read. On the reference
 * tree's first scan, 7,595 rows were updated with their hashes after being written; with rows
 * held, 3,390–3,515, whether 4,096 or 16,384 may be held (the others' second file of a size
 * comes after a commit). The server's CPU for the scan: 0.06–0.13 s less (medians of three
 * sets of 5–7 interleaved rounds); the wall: 0.14 s and 0.19 s less in two sets, 0.03 s more
 * in the third.
 */
export const HELD_ROWS = 4_096;
/**
 * Steps queued at most, besides the one the server runs, before the walk waits for the server
 * (bounds the memory held). One keeps the server busy: with commits queued too (tx.ts), the
 * queue stays full, and two held 10–15 MB more at the first scan's peak (T5) for no time.
 */
const MAX_QUEUED = 1;

/** The last failure of a queued step in this process (failure.ts reports it as the cause). */
let lastStepFailure: unknown;

/**
 * The error to report for err: a statement refused because an earlier queued one failed
 * (25P02, "current transaction is aborted") says nothing; that earlier failure does.
 */
export function rootCause(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '25P02' && lastStepFailure !== undefined ? lastStepFailure : err;
}

export class WriteBehind {
  private readonly files = new FileRowBuffer();
  private dirs: BufferedDir[] = [];
  private hashes: StoredHash[] = [];
  private read: InodeRef[] = [];
  private failed: InodeRef[] = [];
  private readonly fileIds: IdBlocks;
  private readonly dirIds: IdBlocks;
  /** Directories this transaction inserted (or queued): a directory below one is new too. */
  private readonly insertedHere = new Set<number>();
  /**
   * Directories this scan inserted (or queued), committed or not: a directory below one has no
   * row of an earlier scan, only maybe one another scan inserted since (dir-rows.ts).
   */
  private readonly insertedByScan = new Set<number>();
  /** Ids handed out for directories another scan inserted first → their rows (dir-rows.ts). */
  private readonly dirRemap: DirRemap = new Map();
  /** Devices this transaction claimed, or will in its next step (dirty-devices.ts). */
  private readonly claimedHere = new Set<number>();
  private claims: number[] = [];
  /** Devices whose first scan this connection runs: their later transactions claim them too. */
  private readonly firstScanned = new Set<number>();
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void>[] = [];
  /** Bumped by discard(): steps queued before it are skipped. */
  private generation = 0;
  private failure: { readonly error: unknown } | undefined;

  constructor(private readonly client: pg.Client) {
    const run = <T>(fn: () => Promise<T>): Promise<T> => this.run(fn);
    this.fileIds = new IdBlocks(client, 'files', run);
    this.dirIds = new IdBlocks(client, 'dirs', run);
  }

  /** Queue new file rows of scan `scanId`; resolves to their row ids, in order. */
  async addFiles(scanId: number, rows: readonly NewFileRow[]): Promise<number[]> {
    const ids = await this.fileIds.take(rows.length);
    this.files.add(scanId, rows, ids, (dirId) =>
      this.insertedHere.has(dirId) ? 'plain' : 'keep-existing',
    );
    await this.sendIfFull();
    return ids;
  }

  /**
   * Queue the row of a directory whose parent this scan inserted (dir-rows.ts says why it has
   * no row of an earlier scan); resolves to the id handed out for it.
   */
  async addDir(d: Omit<BufferedDir, 'id'>): Promise<number> {
    const [id] = await this.dirIds.take(1);
    this.dirs.push({ ...d, id: id! });
    this.insertedHere.add(id!);
    this.insertedByScan.add(id!);
    return id!;
  }

  /** A new scan tree on this connection: no directory is this scan's yet. */
  startTree(): void {
    this.insertedByScan.clear();
  }

  /**
   * Claim a device for this transaction (dirty-devices.ts), ahead of the rows queued after
   * this call: the claim is the first statement of the step that sends them.
   */
  claimDevice(deviceId: number): void {
    this.firstScanned.add(deviceId);
    if (this.claimedHere.has(deviceId)) return;
    this.claimedHere.add(deviceId);
    this.claims.push(deviceId);
  }

  /** A new scan on this connection: no device is being scanned for the first time yet. */
  startScan(): void {
    this.firstScanned.clear();
  }

  /**
   * Claim a device for this transaction if this connection's scan is its first (the hash
   * stages' transactions after the walk: every key of the device is rebuilt by the fold anyway).
   */
  claimIfFirstScanned(deviceId: number): void {
    if (this.firstScanned.has(deviceId)) this.claimDevice(deviceId);
  }

  /** Whether this transaction inserted the directory (by its own statement or queued). */
  insertedInThisTransaction(dirId: number): boolean {
    return this.insertedHere.has(dirId);
  }

  /** Whether this scan inserted the directory (or queued it), in this transaction or before. */
  insertedByThisScan(dirId: number): boolean {
    return this.insertedByScan.has(dirId);
  }

  /**
   * The row an id handed out for a directory stands for: another scan's, when that one
   * inserted the path first (valid once the batch that held it is written: `sync()` first).
   */
  resolveDir(dirId: number): number {
    return this.dirRemap.get(dirId) ?? dirId;
  }

  /** A directory row this transaction's own statement inserted. */
  noteInserted(dirId: number): void {
    this.insertedHere.add(dirId);
    this.insertedByScan.add(dirId);
  }

  /** Give a still-buffered row its hashes (see FileRowBuffer.setHashes). */
  setHashes(fileId: number, id: BufferedIdentity, hashes: ReadDigests): boolean {
    return this.files.setHashes(fileId, id, hashes);
  }

  /** Queue hash results for rows by id (inodes with one path) and the inodes read or failed. */
  async addResults(p: {
    readonly stored: readonly StoredHash[];
    readonly read: readonly InodeRef[];
    readonly failed: readonly InodeRef[];
  }): Promise<void> {
    this.hashes.push(...p.stored);
    this.read.push(...p.read);
    this.failed.push(...p.failed);
    await this.sendIfFull();
  }

  /** Send what is buffered and wait for every queued step; throws a step's failure. */
  async sync(): Promise<void> {
    this.send();
    await this.chain;
    if (this.failure) throw this.failure.error;
  }

  /**
   * Queue `fn` (given the connection itself) as a step after what is buffered and queued: a
   * COMMIT behind the walk (tx.ts). Skipped when a step failed before it, but not by
   * `discard()`: what was queued before it was this transaction's, committed as the walk
   * expects; a rollback asked for later ends the transaction after it. Its failure is the
   * queue's (the next `sync()` throws it). `settled` runs once it ran or was skipped.
   */
  queueStep(fn: (client: pg.Client) => Promise<void>, settled: () => void): void {
    this.send();
    const client = this.client;
    const step = this.chain.then(async () => {
      try {
        if (this.failure) return;
        await fn(client);
      } catch (err) {
        this.failure = { error: err };
        lastStepFailure = err;
      } finally {
        settled();
      }
    });
    this.track(step);
  }

  /** The transaction committed: its directories are visible to other scans from now on. */
  committed(): void {
    this.insertedHere.clear();
    this.claimedHere.clear();
  }

  /**
   * The transaction is being rolled back: drop what is buffered, skip what is queued, and
   * wait for the step in flight (its statement must not run after the ROLLBACK).
   */
  async discard(): Promise<void> {
    this.generation++;
    this.files.take();
    this.dirs = [];
    this.hashes = [];
    this.read = [];
    this.failed = [];
    this.claims = [];
    this.insertedHere.clear();
    // Rows of this transaction are gone, and which of the scan's rows they were is not kept.
    this.insertedByScan.clear();
    this.claimedHere.clear();
    await this.chain;
    this.failure = undefined;
  }

  /**
   * Run fn (a statement that depends on no queued write) after the queued steps: the driver
   * takes one statement at a time per connection. Its failure is fn's caller's alone.
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.chain.then(fn);
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async sendIfFull(): Promise<void> {
    if (this.files.fresh + this.hashes.length < BATCH_ROWS) return;
    this.send('hold');
    // Backpressure: the walk runs ahead of the server by MAX_QUEUED batches at most.
    while (this.queued.length > MAX_QUEUED) await this.queued[0];
  }

  /**
   * Queue what is buffered as one step; `hold`: but for the rows the walk may still hash, up
   * to HELD_ROWS (file-rows.ts `takeReady`). Everything goes before a COMMIT or a read (`sync`).
   */
  private send(which: 'all' | 'hold' = 'all'): void {
    const claims = this.claims;
    const dirs = this.dirs;
    const files = which === 'all' ? this.files.take() : this.files.takeReady(HELD_ROWS);
    const hashes = this.hashes;
    const read = this.read;
    const failed = this.failed;
    const rows = dirs.length + files.length + hashes.length + read.length + failed.length;
    if (claims.length + rows === 0) return;
    this.claims = [];
    this.dirs = [];
    this.hashes = [];
    this.read = [];
    this.failed = [];
    const client = this.client;
    const gen = this.generation;
    const step = this.chain.then(async () => {
      if (this.failure || gen !== this.generation) return;
      try {
        await claimDevices(client, claims);
        await writeDirRows(client, dirs, this.dirRemap);
        await this.files.write(client, files, this.dirRemap);
        // Ids resolved now: the rows written above may have been another scan's already.
        const resolved = hashes.map((s) => ({
          ...s,
          target: { ...s.target, fileId: this.files.resolve(s.target.fileId) },
        }));
        await writeHashes(client, 'row', resolved);
        await markInodes(client, 'read_inodes', read);
        await markInodes(client, 'failed_inodes', failed);
      } catch (err) {
        this.failure = { error: err };
        lastStepFailure = err;
      }
    });
    this.track(step);
  }

  /** A queued step: the next on the chain, counted until done (backpressure). */
  private track(step: Promise<void>): void {
    this.chain = step;
    this.queued.push(step);
    void step.then(() => {
      this.queued = this.queued.filter((q) => q !== step);
    });
  }
}

const byClient = new WeakMap<pg.Client, WriteBehind>();
/** Queued views (queuedClient) → the connection they queue on. */
const rawOf = new WeakMap<pg.Client, pg.Client>();

/** The connection's write-behind queue (one scan at a time per connection). */
export function writeBehind(client: pg.Client): WriteBehind {
  const raw = rawOf.get(client) ?? client;
  let wb = byClient.get(raw);
  if (!wb) {
    wb = new WriteBehind(raw);
    byClient.set(raw, wb);
  }
  return wb;
}

/**
 * The connection as the catalog's operations use it: each statement runs after the steps
 * queued behind the walk, since the driver takes one statement at a time per connection.
 * (A statement that reads what the walk wrote calls `sync()` first: this only orders.)
 */
export function queuedClient(client: pg.Client): pg.Client {
  if (rawOf.has(client)) return client;
  const wb = writeBehind(client);
  const view = new Proxy(client, {
    get(target, key) {
      if (key === 'query') {
        return (...args: Parameters<pg.Client['query']>) =>
          wb.run(() => (target.query as (...a: unknown[]) => Promise<unknown>)(...args));
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  rawOf.set(view, client);
  return view;
}
/** Send and wait for what the connection queued (before a COMMIT, or a read of its rows). */
export async function syncWrites(client: pg.Client): Promise<void> {
  await writeBehind(client).sync();
}

/** Drop what the connection queued (its transaction is rolled back). */
export async function discardWrites(client: pg.Client): Promise<void> {
  await writeBehind(client).discard();
}

/** The connection a queued view queues on (the client itself when it is one). */
export function connectionOf(client: pg.Client): pg.Client {
  return rawOf.get(client) ?? client;
}

/** Queue a step of the connection's own (write-behind.ts `queueStep`). */
export function queueStep(
  client: pg.Client,
  fn: (raw: pg.Client) => Promise<void>,
  settled: () => void,
): void {
  writeBehind(client).queueStep(fn, settled);
}

/** The connection's transaction committed. */
export function writesCommitted(client: pg.Client): void {
  writeBehind(client).committed();
}
