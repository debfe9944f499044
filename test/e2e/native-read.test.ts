/**
 * The native reads against the node:fs read (src/scan/hash-file.ts): the same jobs on the same
 * real tree, hashed by the addon's hashing threads (native/hash-pool.cc), by Node workers reading
 * natively (native/read.cc, src/scan/hash-native.ts) and with HASHALL_NATIVE=0, must give
 * exactly the same statuses, digests (the suffix's included), byte counts and error texts — for
 * files of every size around the prefix, whole-read and chunk limits, empty files,
 * files changed, removed or replaced (FIFO, symlink, directory) after their job was made, names
 * the kernel refuses, paths long enough to need PathReach, and (as an unprivileged user) an
 * unreadable file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTree, tempDir } from '../helpers/fs.js';
import { nativeStatus } from '../../src/fs/native.js';
import { emptyResult, encodeBatch } from '../../src/scan/hash-job.js';
import { hashBatchNative } from '../../src/scan/hash-native.js';

const DUMP = fileURLToPath(new URL('../helpers/hash-dump.mjs', import.meta.url));

interface JobJson {
  path: string;
  inode: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}
interface Result {
  status: number;
  bytesRead: number;
  prefix: string | null;
  suffix: string | null;
  sha256: string | null;
  error: string | null;
}
interface Dump {
  reader: 'threads' | 'native' | 'js';
  stages: Record<'prefix' | 'full', Result[]>;
}

function jobOf(path: string): JobJson {
  const st = lstatSync(path, { bigint: true });
  return {
    path: Buffer.from(path).toString('base64'),
    inode: String(BigInt.asIntN(64, st.ino)),
    size: String(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  };
}

/** Who hashes: the addon's threads, Node workers reading natively, or workers through node:fs. */
type How = 'threads' | 'workers' | 'js';

function dump(jobsFile: string, how: How, asNobody = false): Dump {
  const argv = asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath]
    : [process.execPath];
  const r = spawnSync(argv[0]!, [...argv.slice(1), DUMP, jobsFile], {
    encoding: 'utf8',
    env: {
      ...process.env,
      HASHALL_NATIVE: how === 'js' ? '0' : '1',
      HASHALL_HASH_POOL: how === 'workers' ? 'workers' : '',
    },
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`hash-dump (${how}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Dump;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const b64 = (p: string) => Buffer.from(p).toString('base64');

/** Without a built addon there is nothing to compare: skipped, saying why (CI requires it). */
function requireNative(
  ctx: { skip: (note?: string) => void },
  d: Dump,
  reader: 'threads' | 'native' = 'native',
): void {
  if (d.reader === reader) return;
  const why = `the native addon (with ${reader === 'threads' ? 'HashPool' : 'readFiles'}) did not load`;
  if (process.env.HASHALL_REQUIRE_NATIVE === '1') throw new Error(why);
  console.warn(`skipping: ${why} (npm run build:native)`);
  ctx.skip(why);
}

describe('native read path', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(tempDir());
    chmodSync(dir, 0o755);
  });
  afterAll(() => removeTree(dir));

  it('gives the same verdicts, digests, byte counts and errors as the node:fs read', (ctx) => {
    // 2,000,000 and 3 MiB + 5: streamed in 1 MiB chunks, the last one short.
    const sizes = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537, 100_000, 2_000_000, 3_145_733];
    const content = (n: number, seed: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
      return b;
    };
    const jobs: JobJson[] = [];
    const expectOk: { index: number; data: Buffer }[] = [];
    const add = (name: string, data: Buffer) => {
      const p = join(dir, name);
      writeFileSync(p, data);
      jobs.push(jobOf(p));
      return p;
    };
    sizes.forEach((n, k) => {
      expectOk.push({ index: jobs.length, data: content(n, k) });
      add(`f-${n}`, content(n, k));
    });
    // Changed after the job was made: same size new mtime, shorter, longer, removed, swapped
    // for a FIFO, a symlink, a directory.
    const p1 = add('touched', content(5000, 1));
    utimesSync(p1, new Date(1_000_000), new Date(1_000_000));
    const p2 = add('shrunk', content(5000, 2));
    writeFileSync(p2, content(10, 2));
    const p3 = add('grown-big', content(200_000, 3));
    writeFileSync(p3, content(300_000, 3));
    rmSync(add('removed', content(77, 4)));
    const p5 = add('fifo', content(1234, 5));
    rmSync(p5);
    spawnSync('mkfifo', [p5]);
    const p6 = add('symlink', content(99, 6));
    rmSync(p6);
    symlinkSync(join(dir, 'f-1'), p6);
    const p7 = add('dir', content(12, 7));
    rmSync(p7);
    mkdirSync(p7);
    // An error: a name longer than NAME_MAX (ENAMETOOLONG from open).
    jobs.push({
      ...jobOf(join(dir, 'f-1')),
      path: Buffer.from(join(dir, 'n'.repeat(300))).toString('base64'),
    });
    const errorIndex = jobs.length - 1;
    // A path past SHORT_PATH_LIMIT: read by hash-file.ts through PathReach in both runs, between
    // the others.
    let deep = dir;
    while (deep.length < 3300) {
      deep = join(deep, 'd'.repeat(200));
      mkdirSync(deep);
    }
    expectOk.push({ index: jobs.length, data: content(3000, 9) });
    writeFileSync(join(deep, 'deep'), content(3000, 9));
    jobs.push(jobOf(join(deep, 'deep')));
    expectOk.push({ index: jobs.length, data: content(150_000, 10) });
    writeFileSync(join(deep, 'deep-big'), content(150_000, 10));
    jobs.push(jobOf(join(deep, 'deep-big')));
    // Long and gone: the file, then a directory on its way.
    const deepGone = add('deep-gone-template', content(10, 11));
    rmSync(deepGone);
    jobs[jobs.length - 1] = { ...jobs[jobs.length - 1]!, path: b64(join(deep, 'gone')) };
    jobs.push({ ...jobs[jobs.length - 1]!, path: b64(join(deep, 'no-dir', 'gone')) });

    const jobsFile = join(dir, 'jobs.json');
    writeFileSync(jobsFile, JSON.stringify(jobs));
    const threads = dump(jobsFile, 'threads');
    requireNative(ctx, threads, 'threads');
    const native = dump(jobsFile, 'workers');
    requireNative(ctx, native);
    const js = dump(jobsFile, 'js');
    expect(js.reader).toBe('js');
    expect(native.stages).toEqual(js.stages);
    expect(threads.stages).toEqual(js.stages);
    expect(threads.stages.prefix.at(-1)!.status).toBe(1);
    expect(threads.stages.prefix.at(-2)!.status).toBe(1);

    // And they are right, not merely alike.
    for (const { index, data } of expectOk) {
      const pre = native.stages.prefix[index]!;
      expect(pre.status).toBe(0);
      expect(pre.prefix).toBe(sha(data.subarray(0, 4096)));
      expect(pre.sha256).toBe(data.length <= 65536 ? sha(data) : null);
      // Past the whole-read limit, the last 4 KiB too (hash-job.ts SUFFIX_BYTES): read by
      // position, counted as read by a prefix read.
      const suffix = data.length > 65536 ? sha(data.subarray(data.length - 4096)) : null;
      expect(pre.suffix).toBe(suffix);
      expect(pre.bytesRead).toBe(
        data.length <= 65536 ? data.length : 4096 + (suffix === null ? 0 : 4096),
      );
      const full = native.stages.full[index]!;
      expect(full.sha256).toBe(sha(data));
      expect(full.suffix).toBe(suffix);
      // A whole read counts each byte once: the suffix's were read in the stream already.
      expect(full.bytesRead).toBe(data.length);
      // Both digests come from one running hash (the prefix's a copy taken mid-stream).
      expect(full.prefix).toBe(sha(data.subarray(0, 4096)));
    }
    const changed = sizes.length;
    for (let i = changed; i < changed + 7; i++) {
      expect(native.stages.prefix[i]!.status).toBe(1);
      expect(native.stages.full[i]!.status).toBe(1);
    }
    expect(native.stages.prefix[errorIndex]).toMatchObject({
      status: 2,
      error: 'ENAMETOOLONG (path too long)',
    });
  });

  it('reports an unreadable file as the node:fs read does (run as an unprivileged user)', (ctx) => {
    if (
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status !==
      0
    ) {
      console.warn('skipping: needs root and setpriv(1) to run as nobody');
      ctx.skip('needs root and setpriv(1) to run as nobody');
    }
    const own = join(dir, 'unreadable');
    writeFileSync(own, 'secret');
    chmodSync(own, 0o600);
    const open = join(dir, 'readable');
    writeFileSync(open, 'public');
    chmodSync(open, 0o644);
    const jobsFile = join(dir, 'jobs-perm.json');
    writeFileSync(jobsFile, JSON.stringify([jobOf(own), jobOf(open)]));
    chmodSync(jobsFile, 0o644);
    const threads = dump(jobsFile, 'threads', true);
    requireNative(ctx, threads, 'threads');
    const native = dump(jobsFile, 'workers', true);
    requireNative(ctx, native);
    const js = dump(jobsFile, 'js', true);
    expect(native.stages).toEqual(js.stages);
    expect(threads.stages).toEqual(js.stages);
    expect(native.stages.prefix[0]).toMatchObject({
      status: 2,
      error: 'EACCES (permission denied)',
    });
    expect(native.stages.prefix[1]).toMatchObject({ status: 0, sha256: sha('public') });
  });

  it('leaves the prefix reads that need a suffix to node:fs where the binary cannot read one', (ctx) => {
    const st = nativeStatus();
    const readFiles = st.kind === 'loaded' ? st.addon.readFiles?.bind(st.addon) : undefined;
    if (!readFiles) {
      const why = 'the native addon (with readFiles) did not load';
      if (process.env.HASHALL_REQUIRE_NATIVE === '1') throw new Error(why);
      console.warn(`skipping: ${why} (npm run build:native)`);
      return ctx.skip(why);
    }
    const small = join(dir, 'old-small');
    const big = join(dir, 'old-big');
    writeFileSync(small, 'x'.repeat(1000));
    writeFileSync(big, 'y'.repeat(100_000));
    const jobs = [small, big].map((p) => {
      const st = lstatSync(p, { bigint: true });
      return {
        path: Buffer.from(p),
        inode: BigInt.asIntN(64, st.ino),
        size: st.size,
        mtimeNs: st.mtimeNs,
        ctimeNs: st.ctimeNs,
      };
    });
    for (const suffixes of [false, true]) {
      const batch = encodeBatch(1, false, jobs);
      const out = emptyResult(1, 2);
      const done = hashBatchNative({ readFiles, suffixes }, batch, out);
      // The small file is read whole either way; the big one only by a binary with suffixes.
      expect([...done]).toEqual([1, suffixes ? 1 : 0]);
      expect([...out.hasSuffix]).toEqual([0, suffixes ? 1 : 0]);
    }
  });
});
