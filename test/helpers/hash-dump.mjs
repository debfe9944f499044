// Hashes a list of jobs with the compiled hash pool (dist/scan/hash-pool.js), each stage in turn,
// and prints every result as JSON, with which reader hashed: the addon's threads, Node workers
// reading natively, or Node workers reading through node:fs (chosen by HASHALL_NATIVE and
// HASHALL_HASH_POOL as in the CLI). test/e2e/native-read.test.ts runs it each way and compares.
//   node hash-dump.mjs JOBS.json    (JOBS.json: [{ path: base64, inode, size, mtimeNs, ctimeNs }])
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const dist = (m) => new URL(`../../dist/${m}`, import.meta.url).href;
const { HashPool, ThreadHashPool, startHashPool } = await import(dist('scan/hash-pool.js'));
const { nativeStatus } = await import(dist('fs/native.js'));

const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8')).map((j) => ({
  path: Buffer.from(j.path, 'base64'),
  inode: BigInt(j.inode),
  size: BigInt(j.size),
  mtimeNs: BigInt(j.mtimeNs),
  ctimeNs: BigInt(j.ctimeNs),
}));
const st = nativeStatus();
const pool = startHashPool(1);
await pool.ready;
const out = {
  // Native only with the suffix read (readFilesVersion 2): an older binary leaves those jobs to JS.
  reader:
    pool instanceof ThreadHashPool
      ? 'threads'
      : pool instanceof HashPool &&
          st.kind === 'loaded' &&
          typeof st.addon.readFiles === 'function' &&
          st.addon.readFilesVersion >= 2
        ? 'native'
        : 'js',
  stages: {},
};
for (const stage of ['prefix', 'full']) {
  const r = await pool.run(stage, jobs);
  const hex = (a, i) => Buffer.from(a.subarray(i * 32, i * 32 + 32)).toString('hex');
  out.stages[stage] = jobs.map((_, i) => ({
    status: r.status[i],
    bytesRead: r.bytesRead[i],
    prefix: r.status[i] === 0 ? hex(r.prefix, i) : null,
    suffix: r.status[i] === 0 && r.hasSuffix[i] ? hex(r.suffix, i) : null,
    sha256: r.status[i] === 0 && r.hasSha256[i] ? hex(r.sha256, i) : null,
    error: r.errors[i] ?? null,
  }));
}
await pool.close();
process.stdout.write(JSON.stringify(out));
