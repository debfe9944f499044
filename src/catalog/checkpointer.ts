/**
 * The write-ahead log copied back into the catalog file on another thread while an execute or
 * a scan writes (checkpoint-worker.ts). An execute commits its outcomes every 2,048 actions, and
 * each commit's pages are spread over the whole catalog (the replaced paths' rows and their
 * indexes); SQLite's own checkpoint after each such commit copied ~3,400 pages and synced the
 * file on the executing thread: 1.2-1.8 s of the reference tree's execute. On a thread of its
 * own that copy and that sync overlap the filesystem work. A scan's walk commits every second
 * or 20,000 files, its hash stages every 2,048 results: on the 1,000,000-file tree the walk's
 * commits took 1.85 s of the scan's one thread with the checkpoints on it, 0.93 s without.
 *
 * While the thread runs, the executing connection checkpoints only past BACKSTOP_PAGES of log:
 * if the thread falls behind, the log file grows to that plus one commit (90 MB in one
 * reference execute on a loaded machine), never without bound. If the thread cannot start or
 * stops, the connection checkpoints as before: nothing depends on the thread but the time.
 */
import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DB } from './db.js';
import type { CheckpointAsk, CheckpointFailure } from './checkpoint-worker.js';

/** SQLite's default: a checkpoint once the log holds 1,000 pages (4 MiB). */
const DEFAULT_PAGES = 1000;
/** 64 MiB of log. */
const BACKSTOP_PAGES = 16384;
const EVERY_MS = 50;

export class WalCheckpointer {
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;
  /** Why the thread stopped by itself, if it did (tests; nothing else depends on it). */
  failure: string | undefined;
  /**
   * It could not start, or stopped by itself: not tried again for this connection. start() is
   * called with every batch of intents, and a thread that cannot open the catalog would
   * otherwise be started (and fail) ~100 times in one reference execute.
   */
  private gaveUp = false;
  /** The log's size at SQLite's own first checkpoint on this connection (startOnceLogGrows). */
  private firstCheckpointBytes: number | undefined;

  constructor(private readonly db: DB) {}

  /**
   * Start the thread (once; again after stop, never after a failure). A catalog not in a file
   * or not writable: no.
   */
  start(): void {
    if (this.worker || this.gaveUp || this.db.memory || this.db.readonly || !this.db.open) return;
    // The thread opens the catalog by name, and may start in the middle of a walk that moved
    // the working directory (js-list.ts): only an absolute name is surely the same file.
    if (!isAbsolute(this.db.name)) return;
    if (String(this.db.pragma('journal_mode', { simple: true })) !== 'wal') return;
    let worker: Worker;
    try {
      // Named from the folder above, as the other workers are: in the bundle this code sits
      // in dist/cli/main.js, the worker in dist/catalog/.
      worker = new Worker(new URL('../catalog/checkpoint-worker.js', import.meta.url), {
        workerData: { path: this.db.name, everyMs: EVERY_MS } satisfies CheckpointAsk,
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
      });
    } catch {
      this.gaveUp = true;
      return;
    }
    this.worker = worker;
    this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    this.exited = new Promise((resolve) => {
      worker.on('message', (m: CheckpointFailure) => (this.failure ??= m.why));
      // What the worker did not catch itself (its module did not load): it exits next.
      worker.on('error', (error: unknown) => (this.failure ??= String(error)));
      worker.on('exit', () => {
        // Still ours: it was not asked to stop.
        if (this.worker === worker) {
          this.gaveUp = true;
          this.detach();
        }
        resolve();
      });
    });
    // Never what keeps the process alive: after the listeners, because on Node 20 a 'message'
    // listener added to an unref'd worker refs it again (a program that closed its catalog
    // without stopping the thread then never exited).
    worker.unref();
  }

  /**
   * Start the thread once the connection's log has grown to the size at which SQLite would
   * first checkpoint on the connection's own thread (its `wal_autocheckpoint`, 1,000 pages):
   * a scan that writes little, such as an unchanged rescan, has no log to copy, and booting
   * the thread took ~0.1 s of CPU beside a 0.5 s rescan of the reference tree. One stat of the
   * log file a call; a scan calls it after each of its walk's commits (about one a second).
   */
  startOnceLogGrows(): void {
    if (this.worker || this.gaveUp || this.db.memory || !this.db.open) return;
    let bytes: number;
    try {
      bytes = statSync(`${this.db.name}-wal`).size;
    } catch {
      // No log (not in WAL mode, or nothing written yet): nothing to copy.
      return;
    }
    // Read once: each pragma is a statement the process keeps (native-handles.ts), and a scan
    // of millions of files that writes little calls this a few hundred times.
    this.firstCheckpointBytes ??=
      Number(this.db.pragma('wal_autocheckpoint', { simple: true })) *
      Number(this.db.pragma('page_size', { simple: true }));
    if (this.firstCheckpointBytes > 0 && bytes >= this.firstCheckpointBytes) this.start();
  }

  /** Whether the thread is running (tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Stop the thread and wait for it; the connection checkpoints as before. */
  async stop(): Promise<void> {
    const worker = this.worker;
    const exited = this.exited;
    if (!worker || !exited) return;
    this.detach();
    // Waited for now, so it must keep the process alive until it exits: unref'd, nothing else
    // may (the catalog's close is often a command's last step), and Node 22+ ends a process
    // whose event loop empties while its top-level await is pending, with exit code 13.
    worker.ref();
    worker.postMessage('stop');
    await exited;
  }

  private detach(): void {
    this.worker = undefined;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
  }
}
