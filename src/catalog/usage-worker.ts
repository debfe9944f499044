/**
 * Counts a first scan's device usage on a thread of its own (stored-totals.ts,
 * foldStoredTotalsAfterScan): a read-only connection of its own runs the one query while the
 * scan's connection folds the group totals. The parent holds the catalog's write lock from
 * before this connection's first read, so what it reads is exactly what the parent committed;
 * it checks that by the scan the parent has just finished.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import {
  deviceList,
  USAGE_OF,
  type UsageAnswer,
  type UsageAsk,
  type UsageRow,
} from './usage-query.js';

/**
 * 2 MiB: the reference tree's first scan peaked ~9 MB higher with the scan's own 16 MiB; the
 * 1,000,000-file count took 1.76-1.79 s against 1.59-1.65 s, still within the group fold's time.
 */
const CACHE_KIB = 2048;

function count(ask: UsageAsk): UsageAnswer {
  const db = new Database(ask.path, { readonly: true, fileMustExist: true });
  try {
    // A small page cache (each row is read once; the OS caches the file anyway) and sorts
    // spilled to files: this connection adds to the scan's peak RSS (DESIGN §6 T5).
    db.pragma(`cache_size = -${CACHE_KIB}`);
    db.pragma('temp_store = FILE');
    // One read transaction: both statements see one snapshot.
    return db.transaction((): UsageAnswer => {
      const scan = db.prepare('SELECT finished_at FROM scans WHERE id = ?').get(ask.scanId) as
        { finished_at: number | null } | undefined;
      if (scan?.finished_at !== ask.finishedAt) {
        return { kind: 'refused', why: `scan ${ask.scanId} is not the one just finished here` };
      }
      const rows = db
        .prepare(USAGE_OF(`AND device_id IN ${deviceList(ask.devices)}`))
        .all() as UsageRow[];
      return { kind: 'rows', rows };
    })();
  } finally {
    db.close();
  }
}

let answer: UsageAnswer;
try {
  answer = count(workerData as UsageAsk);
} catch (error) {
  // Said here: a SqliteError reaches the parent's 'error' event without its message.
  answer = { kind: 'refused', why: error instanceof Error ? error.message : String(error) };
}
parentPort!.postMessage(answer);
