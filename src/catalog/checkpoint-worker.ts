/**
 * Copies the catalog's write-ahead log into the database file on a thread of its own while an
 * execute writes (checkpointer.ts starts it and says why). A connection of its own runs a
 * PASSIVE checkpoint every few milliseconds: it never waits for a lock and never blocks the
 * writer; it copies what no reader still needs, and once it has copied everything, the
 * writer's next transaction starts the log from its beginning again.
 */
import type Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './native-handles.js';

export interface CheckpointAsk {
  readonly path: string;
  readonly everyMs: number;
}

/** What the parent hears: nothing while it works; why, if it stops by itself. */
export interface CheckpointFailure {
  readonly kind: 'failed';
  readonly why: string;
}

const ask = workerData as CheckpointAsk;
const port = parentPort!;

function fail(error: unknown): never {
  // Said here: a SqliteError reaches the parent's 'error' event without its message.
  port.postMessage({
    kind: 'failed',
    why: error instanceof Error ? error.message : String(error),
  } satisfies CheckpointFailure);
  // Ends this thread only.
  process.exit(1);
}

let db: Database.Database;
let checkpoint: Database.Statement;
try {
  db = openDatabase(ask.path, { fileMustExist: true });
  // A checkpoint reads log frames and writes database pages: no page cache to speak of.
  db.pragma('cache_size = -256');
  // Prepared once: every statement is kept for the thread's life (native-handles.ts), so
  // db.pragma() every 50 ms would keep one more each time.
  checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
} catch (error) {
  fail(error);
}

const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch (error) {
    clearInterval(timer);
    fail(error);
  }
}, ask.everyMs);

port.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  // Not the catalog's last connection (the parent's is open): closing checkpoints nothing.
  db.close();
  port.close();
});
