/** A hashing worker thread: one reusable buffer, one batch at a time. */
import { parentPort } from 'node:worker_threads';
import { nativeStatus } from '../fs/native.js';
import { hashNice, lowerThreadPriority } from '../fs/process.js';
import { PathReach } from '../fs/reach.js';
import { hashFile } from './hash-file.js';
import {
  DIGEST_BYTES,
  HashStatus,
  decodeJob,
  emptyResult,
  transferList,
  type HashBatchMessage,
} from './hash-job.js';
import { hashBatchNative, type NativeRead } from './hash-native.js';

// A first scan's critical path is the walk's own threads: listing, comparing and inserting
// rows. Hashing can wait for a free CPU, and most of it can be done later, so each worker runs
// HASHALL_HASH_NICE steps (10) below them: where every CPU is busy it yields to the walk, and
// it has the CPUs to itself whenever the walk waits. A first scan + analyze of the reference
// tree on 2 CPUs took 2.49–2.64 s against 2.60–2.77 s (8 interleaved rounds; +5: 2.56–2.64
// s). Where the priority cannot be lowered, the worker hashes at the walk's.
lowerThreadPriority(hashNice());

const buf = Buffer.allocUnsafeSlow(1 << 20);
const reach = new PathReach();

// The addon's batch read where it loaded (HASHALL_NATIVE=0 or no addon: node:fs for all).
// Loaded now, while the worker starts: its path is absolute, so the working directory the walk
// moves does not matter.
const native = nativeStatus();
const readFiles = native.kind === 'loaded' ? native.addon.readFiles?.bind(native.addon) : undefined;
const nativeRead: NativeRead | undefined = readFiles && {
  readFiles,
  suffixes: native.kind === 'loaded' && (native.addon.readFilesVersion ?? 1) >= 2,
};

parentPort!.on('message', (batch: HashBatchMessage) => {
  const n = batch.count;
  const out = emptyResult(batch.batchId, n);
  const done = nativeRead ? hashBatchNative(nativeRead, batch, out) : undefined;
  for (let i = 0; i < n; i++) {
    if (done?.[i]) continue;
    const r = hashFile(decodeJob(batch, i), batch.full, buf, reach);
    out.status[i] = r.status;
    out.bytesRead[i] = r.bytesRead;
    if (r.status === HashStatus.Ok) {
      out.prefix.set(r.prefix!, i * DIGEST_BYTES);
      if (r.suffix) {
        out.suffix.set(r.suffix, i * DIGEST_BYTES);
        out.hasSuffix[i] = 1;
      }
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
