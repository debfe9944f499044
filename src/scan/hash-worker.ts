/** A hashing worker thread: one reusable buffer, one batch at a time. */
import { parentPort } from 'node:worker_threads';
import { PathReach } from '../fs/reach.js';
import { hashFile } from './hash-file.js';
import {
  DIGEST_BYTES,
  HashStatus,
  decodeJob,
  transferList,
  type HashBatchMessage,
  type HashResultMessage,
} from './hash-job.js';

const buf = Buffer.allocUnsafeSlow(1 << 20);
const reach = new PathReach();

parentPort!.on('message', (batch: HashBatchMessage) => {
  const n = batch.count;
  const out: HashResultMessage = {
    batchId: batch.batchId,
    status: new Uint8Array(n),
    prefix: new Uint8Array(n * DIGEST_BYTES),
    sha256: new Uint8Array(n * DIGEST_BYTES),
    hasSha256: new Uint8Array(n),
    bytesRead: new Float64Array(n),
    errors: {},
  };
  for (let i = 0; i < n; i++) {
    const r = hashFile(decodeJob(batch, i), batch.full, buf, reach);
    out.status[i] = r.status;
    out.bytesRead[i] = r.bytesRead;
    if (r.status === HashStatus.Ok) {
      out.prefix.set(r.prefix!, i * DIGEST_BYTES);
      if (r.sha256) {
        out.sha256.set(r.sha256, i * DIGEST_BYTES);
        out.hasSha256[i] = 1;
      }
    } else if (r.status === HashStatus.Error) {
      out.errors[i] = r.error ?? 'error';
    }
  }
  reach.close();
  parentPort!.postMessage(out, transferList(out));
});

// Started: from here on the worker never asks for the working directory, which the walk moves
// (a worker's start-up does, and fails while it is deeper than PATH_MAX).
parentPort!.postMessage({ ready: true });
