/** A hashing worker thread: one reusable buffer, one batch at a time. */
import { parentPort } from 'node:worker_threads';
import { PathReach } from '../fs/reach.js';
import { hashFile } from './hash-file.js';
import type { HashBatch, HashBatchDone } from './hash-job.js';

const BUFFER_BYTES = 1 << 20;
const buf = Buffer.allocUnsafe(BUFFER_BYTES);
const reach = new PathReach();

parentPort!.on('message', (batch: HashBatch) => {
  const results = batch.jobs.map((job) =>
    hashFile({ ...job, path: Buffer.from(job.path) }, buf, reach),
  );
  reach.close();
  const done: HashBatchDone = { batchId: batch.batchId, results };
  parentPort!.postMessage(done);
});
