/**
 * Loads the command line's bundle (dist/cli/program.cjs, one CommonJS file) with V8's code
 * cache, on every supported Node line. Compiling the ~1 MB bundle is most of a command's start
 * after Node's own: ~20 ms of the ~100 ms of `hashall --version` on Node 20, which has no
 * compile cache of its own (Node 22.1+'s, module.enableCompileCache, does not reach code
 * compiled here). V8 hands back the code it compiled (`createCachedData`); the next command
 * gives it to the compiler and skips the parse and the compile of what it holds.
 *
 * The cache file is the user's own, next to Node's compile cache (compile-cache.ts): one per
 * bundle path, Node version and CPU. V8 checks its own version, flags and the source's length,
 * not the source itself, so the file starts with the source's CRC-32 and length: a rebuilt
 * bundle of the same length is compiled afresh, never run with the old one's code.
 *
 * Nothing here may stop a command: without a cache folder of the user's own, with a file that
 * is stale, truncated, rejected or not the user's own, or on a full disk, the command compiles
 * as before and says nothing. NODE_DISABLE_COMPILE_CACHE=1 turns it off; under --debug the
 * bundle loads through Node's own loader instead, so that source maps name the src/ files.
 */
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';
import { compileCacheDir } from './compile-cache.js';

/** What the load did with the cache (the tests read it; a command ignores it). */
export type CodeCacheUse =
  | { readonly kind: 'off'; readonly reason: 'debug' | 'disabled' | 'no-folder' }
  | { readonly kind: 'used' }
  /** Compiled afresh; the code is written to the cache as the process exits. */
  | { readonly kind: 'compiled'; readonly reason: 'absent' | 'stale' | 'rejected' | 'unsafe' };

export interface LoadedBundle {
  readonly exports: unknown;
  readonly cache: CodeCacheUse;
}

/** The file's first bytes: a tag, the source's CRC-32 and its length in bytes. */
const TAG = 0x31434148; // "HAC1", little-endian
const HEADER_BYTES = 12;

/** The cache file for `bundle` in `dir`: one per bundle path, Node version and CPU. */
export function codeCachePath(dir: string, bundle: string): string {
  const where = crc32(bundle).toString(16).padStart(8, '0');
  return join(dir, `program-${where}-${process.version}-${process.arch}.v8`);
}

/** The folder for the cache: NODE_COMPILE_CACHE where the user chose one, else ours. */
function cacheFolder(env: NodeJS.ProcessEnv): string | undefined {
  const chosen = env.NODE_COMPILE_CACHE;
  if (chosen && chosen.startsWith('/')) return chosen;
  return compileCacheDir(env);
}

function header(source: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32LE(TAG, 0);
  h.writeUInt32LE(crc32(source), 4);
  h.writeUInt32LE(source.length, 8);
  return h;
}

type Stored =
  | { readonly kind: 'data'; readonly data: Buffer }
  | { readonly kind: 'absent' | 'stale' | 'unsafe' };

/**
 * The cached code for `source`, read from `file` only when it is a regular file of this user's
 * that nobody else may write: code from it runs as this user.
 */
function readStored(file: string, source: Buffer): Stored {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { kind: 'absent' };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0)
      return { kind: 'unsafe' };
    const bytes = readFileSync(fd);
    if (bytes.length <= HEADER_BYTES || !bytes.subarray(0, HEADER_BYTES).equals(header(source)))
      return { kind: 'stale' };
    return { kind: 'data', data: bytes.subarray(HEADER_BYTES) };
  } catch {
    return { kind: 'absent' };
  } finally {
    closeSync(fd);
  }
}

/** A cache file not written for this long is another install's, or another Node's: removed. */
const UNUSED_DAYS = 30;

/**
 * Writes the cache whole or not at all: a temporary file, renamed over the old one. Then
 * removes the files of bundles and Node versions gone by (npx, for one, runs each version from
 * a folder of its own), so that the folder does not grow with every upgrade.
 */
function writeStored(file: string, source: Buffer, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, Buffer.concat([header(source), data]), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
    return;
  }
  const folder = dirname(file);
  const before = Date.now() - UNUSED_DAYS * 86_400_000;
  for (const name of readdirSync(folder)) {
    if (!/^program-.*\.v8(\.\d+\.tmp)?$/.test(name)) continue;
    const other = join(folder, name);
    const st = lstatSync(other, { throwIfNoEntry: false });
    if (other !== file && st !== undefined && st.mtimeMs < before) rmSync(other, { force: true });
  }
}

/** Runs `bundle` (a CommonJS file) and returns its exports, compiled with the cache if it can. */
export function loadBundle(
  bundle: string,
  opts: { readonly debug: boolean; readonly env?: NodeJS.ProcessEnv },
): LoadedBundle {
  const env = opts.env ?? process.env;
  const require = createRequire(bundle);
  // Node's loader applies source maps; code compiled here would keep the bundle's lines.
  if (opts.debug) return { exports: require(bundle), cache: { kind: 'off', reason: 'debug' } };
  const dir = env.NODE_DISABLE_COMPILE_CACHE === '1' ? undefined : cacheFolder(env);
  const source = readFileSync(bundle);
  const file = dir === undefined ? undefined : codeCachePath(dir, bundle);
  const stored: Stored = file === undefined ? { kind: 'absent' } : readStored(file, source);
  const script = new Script(Module.wrap(source.toString('utf8')), {
    filename: bundle,
    cachedData: stored.kind === 'data' ? stored.data : undefined,
  });
  const module = new Module(bundle);
  module.filename = bundle;
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, require, module, bundle, dirname(bundle));
  module.loaded = true;

  let cache: CodeCacheUse;
  if (dir === undefined) {
    const reason = env.NODE_DISABLE_COMPILE_CACHE === '1' ? 'disabled' : 'no-folder';
    cache = { kind: 'off', reason };
  } else if (stored.kind === 'data' && !script.cachedDataRejected) {
    cache = { kind: 'used' };
  } else {
    cache = { kind: 'compiled', reason: stored.kind === 'data' ? 'rejected' : stored.kind };
    // At exit, so that the functions this command compiled as it ran are in the cache too.
    process.once('exit', () => {
      try {
        writeStored(file as string, source, script.createCachedData());
      } catch {
        // A cache is never worth a failed command.
      }
    });
  }
  return { exports: module.exports, cache };
}
