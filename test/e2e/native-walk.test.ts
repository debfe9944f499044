/**
 * The native directory listing (native/walk.cc through src/fs/native-list.ts) against the pure-JS
 * one (src/fs/js-list.ts): the real walker, run in separate processes on one hostile tree — with
 * the addon listing ahead on its threads (native/list-pool.cc), with the addon listing on the
 * walk's thread (HASHALL_LIST_THREADS=0), and with HASHALL_NATIVE=0 — must report the same
 * listings (names as bytes, every metadata field), errors, skips and prunes, as root and as an
 * unprivileged user (for whom some directories cannot be opened or traversed). On the walk's
 * thread the order is the JS walk's too (depth-first); listed ahead, directories come as their
 * listings finish, so that run is compared in path order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, realpathSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSocket, mktree, removeTree, sh, tempDir } from '../helpers/fs.js';

const DUMP = fileURLToPath(new URL('../helpers/walk-dump.mjs', import.meta.url));
const NOBODY = { uid: 65534, gid: 65534 };

interface Dump {
  lister: string;
  queue: 'ahead' | 'in-turn';
  listings: {
    abs: string;
    parentDirId: number | null;
    parent: string | null;
    files: { name: string; meta: Record<string, string | number> }[];
    subdirs: string[];
    kept: string[];
  }[];
  errors: { abs: string; code: string | null; message: string }[];
  skips: string[];
  prunes: { kind: string; abs: string }[];
}

/** '0': the JS walk; 'ahead': the addon on its threads; 'in-turn': the addon on the walk's thread. */
type Walk = '0' | 'ahead' | 'in-turn';

function dump(tree: string, how: Walk, asUser?: typeof NOBODY): Dump {
  const cmd = [process.execPath, DUMP, tree];
  const argv = asUser
    ? ['setpriv', `--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, '--clear-groups', ...cmd]
    : cmd;
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    env: {
      ...process.env,
      HASHALL_NATIVE: how === '0' ? '0' : '1',
      HASHALL_LIST_THREADS: how === 'in-turn' ? '0' : '4',
    },
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`walk-dump failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Dump;
}

const b = (s: string) => Buffer.from(s, 'base64');

/** A dump in path order, each listing's parent named by path only (ids follow the order). */
function inPathOrder(d: Dump): Dump {
  const byAbs = <T extends { abs: string }>(xs: T[]) =>
    [...xs].sort((x, y) => Buffer.compare(b(x.abs), b(y.abs)));
  return {
    ...d,
    listings: byAbs(d.listings.map((l) => ({ ...l, parentDirId: null }))),
    errors: byAbs(d.errors),
    skips: [...d.skips].sort(),
    prunes: byAbs(d.prunes),
  };
}

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
    makeSocket(join(extra, 'sock'));
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
    const probe = dump(tree, 'ahead');
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
    const native = dump(tree, 'in-turn');
    const ahead = dump(tree, 'ahead');
    expect(js.lister).toBe('disabled');
    expect(native.lister).toBe('loaded');
    expect(native).toEqual({ ...js, lister: 'loaded' });
    expect([js.queue, native.queue, ahead.queue]).toEqual(['in-turn', 'in-turn', 'ahead']);
    expect(inPathOrder({ ...ahead, queue: 'in-turn' })).toEqual(inPathOrder(native));
    // Each directory came after its parent (its id was known), the root first.
    expect(ahead.listings.filter((l) => l.parent === undefined)).toEqual([]);
    expect(ahead.listings[0]!.abs).toBe(js.listings[0]!.abs);

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
    const native = dump(tree, 'in-turn', NOBODY);
    const ahead = dump(tree, 'ahead', NOBODY);
    expect(ahead.queue).toBe('ahead');
    expect(inPathOrder({ ...ahead, queue: 'in-turn' })).toEqual(inPathOrder(native));
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
