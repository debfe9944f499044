/**
 * The native directory listing (native/walk.cc through src/fs/native-list.ts) against the pure-JS
 * one (src/fs/js-list.ts): the real walker, run in two processes on one hostile tree — once with
 * the addon, once with HASHALL_NATIVE=0 — must report exactly the same listings (names as bytes,
 * every metadata field), errors, skips and prunes, as root and as an unprivileged user (for whom
 * some directories cannot be opened or traversed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, realpathSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mktree, removeTree, sh, tempDir } from '../helpers/fs.js';

const DUMP = fileURLToPath(new URL('../helpers/walk-dump.mjs', import.meta.url));
const NOBODY = { uid: 65534, gid: 65534 };

interface Dump {
  lister: string;
  listings: {
    abs: string;
    files: { name: string; meta: Record<string, string | number> }[];
    subdirs: string[];
    kept: string[];
  }[];
  errors: { abs: string; code: string | null; message: string }[];
  skips: string[];
  prunes: { kind: string; abs: string }[];
}

function dump(tree: string, native: '0' | '1', asUser?: typeof NOBODY): Dump {
  const cmd = [process.execPath, DUMP, tree];
  const argv = asUser
    ? ['setpriv', `--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, '--clear-groups', ...cmd]
    : cmd;
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, HASHALL_NATIVE: native },
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`walk-dump failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Dump;
}

const b = (s: string) => Buffer.from(s, 'base64');

describe('native walk vs JS walk', () => {
  let dir: string;
  let tree: string;
  let nativeMissing: string | undefined;
  beforeAll(() => {
    dir = realpathSync(tempDir());
    chmodSync(dir, 0o755);
    tree = join(dir, 'tree');
    mktree(tree, ['--tricky', '--files', '200', '--total-mb', '2', '--seed', '5']);
    // What --tricky does not make: a socket, a device, times before 1970 and past 2262 (whose
    // nanoseconds do not fit in 64 bits), a 255-byte name, an excluded directory, one of our
    // temporary names, a directory full of files.
    const extra = join(tree, 'extra');
    mkdirSync(join(extra, 'excluded_dir'), { recursive: true });
    sh('python3', [
      '-c',
      'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      join(extra, 'sock'),
    ]);
    sh('mknod', [join(extra, 'null'), 'c', '1', '3']);
    writeFileSync(join(extra, 'before-1970'), 'old');
    utimesSync(join(extra, 'before-1970'), -86_400.5, -86_400.25);
    writeFileSync(join(extra, 'year-2400'), 'far');
    utimesSync(join(extra, 'year-2400'), 13_569_465_600, 13_569_465_600);
    writeFileSync(join(extra, 'n'.repeat(255)), 'long name');
    writeFileSync(join(extra, '.hashall-tmp-link'), 'ours');
    writeFileSync(join(extra, 'excluded_dir', 'x'), 'x');
    mkdirSync(join(extra, 'many'));
    for (let i = 0; i < 3000; i++) writeFileSync(join(extra, 'many', `f${i}`), '');
    const probe = dump(tree, '1');
    if (probe.lister !== 'loaded')
      nativeMissing = `the native addon did not load (${probe.lister})`;
  });
  afterAll(() => removeTree(dir));

  const requireNative = (ctx: { skip: (note?: string) => void }) => {
    if (!nativeMissing) return;
    if (process.env.HASHALL_REQUIRE_NATIVE === '1') throw new Error(nativeMissing);
    console.warn(`skipping: ${nativeMissing} (npm run build:native)`);
    ctx.skip(nativeMissing);
  };

  it('lists every entry with the same bytes and metadata, as root', (ctx) => {
    requireNative(ctx);
    const js = dump(tree, '0');
    const native = dump(tree, '1');
    expect(js.lister).toBe('disabled');
    expect(native.lister).toBe('loaded');
    expect(native).toEqual({ ...js, lister: 'loaded' });

    // The tree is as hostile as meant, so the comparison above covered it.
    const files = js.listings.flatMap((l) => l.files.map((f) => ({ dir: b(l.abs), ...f })));
    const named = (n: Buffer) => files.filter((f) => b(f.name).equals(n));
    expect(named(Buffer.from([0xff, 0xfe, 0xfd, 0x2e, 0x62, 0x69, 0x6e]))).toHaveLength(1);
    expect(named(Buffer.from('new\nline.txt'))).toHaveLength(1);
    expect(named(Buffer.from('n'.repeat(255)))).toHaveLength(1);
    expect(Math.max(...files.map((f) => f.dir.length))).toBeGreaterThan(4096);
    expect(named(Buffer.from('bottom_copy.dat'))).toHaveLength(1);
    expect(js.listings.find((l) => b(l.abs).toString().endsWith('/many'))?.files).toHaveLength(
      3000,
    );
    for (const name of ['before-1970', 'year-2400']) {
      const st = lstatSync(join(tree, 'extra', name), { bigint: true });
      expect(named(Buffer.from(name))[0]?.meta.mtimeNs).toBe(`${st.mtimeNs}n`);
    }
    expect(named(Buffer.from('year-2400'))[0]?.meta.mtimeNs).toBe('13569465600000000000n');
    expect(js.skips.filter((k) => k === 'fifo').length).toBeGreaterThanOrEqual(3);
    expect(js.skips.filter((k) => k === 'symlink').length).toBeGreaterThanOrEqual(5);
    expect(js.skips).toContain('socket');
    expect(js.skips).toContain('device');
    expect(js.prunes.map((p) => p.kind)).toEqual(['excluded']);
    expect(js.listings.flatMap((l) => l.kept.map((k) => b(k).toString()))).toContain(
      '.hashall-tmp-link',
    );
    expect(js.errors).toEqual([]);
  });

  it('reports the same errors for what an unprivileged user cannot open or enter', (ctx) => {
    requireNative(ctx);
    const js = dump(tree, '0', NOBODY);
    const native = dump(tree, '1', NOBODY);
    // Messages name the failing call differently (the JS walk fails entering the directory,
    // the addon probing it): what is reported to users, the path and the code, must match.
    const codes = (d: Dump) => d.errors.map((e) => ({ abs: e.abs, code: e.code }));
    expect(codes(native)).toEqual(codes(js));
    expect({ ...native, errors: [] }).toEqual({ ...js, errors: [], lister: 'loaded' });
    const errors = js.errors.map((e) => `${b(e.abs).toString().slice(tree.length)} ${e.code}`);
    // noperm_dir (000) cannot be opened; listonly_dir (744) can be listed but not entered.
    expect(errors.sort()).toEqual(['/tricky/listonly_dir EACCES', '/tricky/noperm_dir EACCES']);
  });
});
