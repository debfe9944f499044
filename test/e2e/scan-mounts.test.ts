/**
 * Scans across real filesystems: tmpfs and loop-mounted ext4/btrfs images, bind mounts and a
 * proc mount inside the tree. Requires mount permission (root); skipped with the reason
 * elsewhere, required in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import { countRows, readCatalog } from '../helpers/catalog.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import {
  attachLoop,
  bindMount,
  detachLoop,
  mountImage,
  mountLoop,
  mountProc,
  mountTmpfs,
  requireMounts,
  sh,
  unmount,
  unmountAll,
} from '../helpers/mounts.js';

interface Dev {
  alias: string;
  identity: string;
  identity_stable: boolean;
  fs_type: string;
  mount_point: string;
  st_dev: number;
  files: number;
}

const devicesOf = (cat: string) =>
  hashall(['devices', '--catalog', cat, '--json']).json<{ devices: Dev[] }>().devices;

function scanJson(cat: string, ...args: string[]) {
  const r = hashall(['scan', ...args, '--catalog', cat, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.json<Record<string, number> & { pruned: Record<string, number>; pending: number }>();
}

describe('scans across filesystems', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('a tmpfs and an ext4 image mounted inside the tree become their own devices', (ctx) => {
    requireMounts(ctx);
    const tree = join(dir, 'multi');
    writeTree(tree, { 'top.txt': 'same content', 'unique-top.txt': 'u' });
    mountTmpfs(join(tree, 'mem'));
    writeTree(join(tree, 'mem'), { 'in-tmpfs.txt': 'same content' });
    mountImage(join(dir, 'multi.ext4'), join(tree, 'disk'), 'ext4');
    writeTree(join(tree, 'disk'), { 'sub/in-ext4.txt': 'same content' });
    const cat = join(dir, 'multi.db');
    const s = scanJson(cat, tree);
    expect(s.files).toBe(4);
    const devs = devicesOf(cat);
    expect(devs).toHaveLength(3);
    const ext4 = devs.find(
      (d) => d.fs_type === 'ext4' && d.mount_point === realpathSync(join(tree, 'disk')),
    )!;
    expect(ext4.identity).toMatch(/^uuid:[0-9a-f-]{36}$/);
    expect(ext4.identity_stable).toBe(true);
    expect(ext4.files).toBe(1);
    const tmp = devs.find((d) => d.fs_type === 'tmpfs')!;
    expect(tmp.files).toBe(1);
    // Rows are relative to each filesystem's root.
    const paths = readCatalog(cat, (db) =>
      (db.prepare(`SELECT path FROM file_paths`).all() as { path: Buffer }[]).map((r) =>
        r.path.toString(),
      ),
    );
    expect(paths).toContain('/sub/in-ext4.txt');
    expect(paths).toContain('/in-tmpfs.txt');
    // Same size on three devices: every copy is a candidate and gets hashed.
    expect(countRows(cat, 'sha256 IS NOT NULL')).toBe(3);

    const one = join(dir, 'one.db');
    const s1 = scanJson(one, tree, '--one-file-system');
    expect(s1.files).toBe(2);
    expect(s1.pruned.other_filesystem).toBe(2);
    expect(devicesOf(one)).toHaveLength(1);
  });

  it('a bind mount of a scanned directory maps onto the same rows', (ctx) => {
    requireMounts(ctx);
    const src = join(dir, 'bindsrc');
    writeTree(src, { 'a/x.txt': 'xx', 'a/y.txt': 'xx', 'b.txt': 'b' });
    const cat = join(dir, 'bind.db');
    scanJson(cat, src);
    const rows = countRows(cat, '1 = 1');
    const view = join(dir, 'bindview');
    bindMount(src, view);
    const s = scanJson(cat, view);
    expect(s.files).toBe(3);
    expect(s.unchanged).toBe(3);
    expect(s.new).toBe(0);
    expect(countRows(cat, '1 = 1')).toBe(rows);
    expect(devicesOf(cat)).toHaveLength(1);
    // A bind mount of the tree inside the tree itself is not walked twice (nor forever).
    bindMount(src, join(src, 'a', 'loop'));
    const s2 = scanJson(cat, src);
    expect(s2.files).toBe(3);
    expect(s2.pruned.bind_mount).toBe(1);
    unmount(join(src, 'a', 'loop'));
  });

  it('a file mounted over a name in the tree is left as it is, not catalogued as a file there (regression: its replacement failed with EBUSY)', (ctx) => {
    requireMounts(ctx);
    const tree = join(dir, 'filebind');
    const content = 'the same bytes, three times over';
    writeTree(tree, { 'a/f1': content, 'b/f2': content, 'b/target': '' });
    writeTree(join(dir, 'filebind-src'), { src: content });
    // A file onto a file (bindMount makes its target a directory).
    sh('mount', ['--bind', join(dir, 'filebind-src', 'src'), join(tree, 'b', 'target')]);
    const cat = join(dir, 'filebind.db');
    try {
      const s = scanJson(cat, tree);
      expect(s.files).toBe(2);
      expect(s.pruned.bind_mount).toBe(1);
      // A rescan (the directory decoded again: it holds a mount point) says the same.
      const again = scanJson(cat, tree);
      expect(again.files).toBe(2);
      expect(again.unchanged).toBe(2);
      const plan = hashall(['conductor', 'plan', 'fb', '--catalog', cat, '--json']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.json<{ actions: Record<string, number> }>().actions.HARDLINK).toBe(1);
      const ex = hashall(['conductor', 'execute', '1', '--force', '--catalog', cat, '--json']);
      expect(ex.code, ex.stderr).toBe(0);
      expect(ex.json<{ failed: number }>().failed).toBe(0);
    } finally {
      unmount(join(tree, 'b', 'target'));
    }
  });

  it('a scan through a bind mount of a subdirectory records where the whole filesystem is mounted', (ctx) => {
    requireMounts(ctx);
    const fsRoot = join(dir, 'wholefs');
    mountTmpfs(fsRoot);
    writeTree(join(fsRoot, 'photos'), { 'a.jpg': 'same', 'b/a.jpg': 'same', 'c.jpg': 'c' });
    const view = join(dir, 'photoview');
    bindMount(join(fsRoot, 'photos'), view);
    const cat = join(dir, 'bindsub.db');
    expect(scanJson(cat, view).files).toBe(3);
    const devAfterScan = hashall(['devices', '--catalog', cat, '--json']).json<{
      devices: (Dev & { mount_root: string })[];
    }>().devices;
    expect(devAfterScan).toHaveLength(1);
    // Not the bind (`photoview`, showing /photos): the tmpfs itself, showing all of it.
    expect(devAfterScan[0]!.mount_point).toBe(realpathSync(fsRoot));
    expect(devAfterScan[0]!.mount_root).toBe('/');
    expect(devAfterScan[0]!.alias).toBe('wholefs');
    // Once the bind is gone the device is still shown where it is, and its duplicates are
    // found there.
    unmount(view);
    const human = hashall(['devices', '--catalog', cat]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(realpathSync(fsRoot));
    expect(human.stdout).not.toContain('photoview');
    const dupes = hashall(['dupes', '--catalog', cat, '--json']);
    expect(dupes.code).toBe(0);
    expect(dupes.stdout).toContain(join(realpathSync(fsRoot), 'photos', 'b', 'a.jpg'));
    // A bind mount with no wider mount of its filesystem is recorded as it is.
    const only = join(dir, 'onlybind.db');
    const lone = join(dir, 'lonefs');
    mountTmpfs(lone);
    writeTree(join(lone, 'sub'), { 'x.txt': 'x' });
    const loneView = join(dir, 'loneview');
    bindMount(join(lone, 'sub'), loneView);
    unmount(lone);
    expect(scanJson(only, loneView).files).toBe(1);
    const loneDev = devicesOf(only);
    expect(loneDev[0]!.mount_point).toBe(realpathSync(loneView));
  });

  it('a changed st_dev for a known filesystem updates the device, it does not add one', (ctx) => {
    requireMounts(ctx);
    const image = join(dir, 'move.ext4');
    const mnt = join(dir, 'move');
    mountImage(image, mnt, 'ext4');
    writeTree(mnt, { 'f.txt': 'same', 'g.txt': 'same' });
    const cat = join(dir, 'move.db');
    scanJson(cat, mnt);
    const before = devicesOf(cat)[0]!;
    unmount(mnt);
    // Re-attach the image through another loop device: a new st_dev, the same UUID.
    const busy = attachLoop(join(dir, 'multi.ext4')); // occupy the next free one
    mountLoop(image, mnt);
    try {
      const s = scanJson(cat, mnt);
      expect(s.unchanged).toBe(2);
      const after = devicesOf(cat);
      expect(after).toHaveLength(1);
      expect(after[0]!.identity).toBe(before.identity);
      expect(after[0]!.st_dev).not.toBe(before.st_dev);
    } finally {
      unmount(mnt);
      detachLoop(busy);
    }
  });

  it('a btrfs image is identified by UUID and subvolume', (ctx) => {
    requireMounts(ctx);
    const mnt = join(dir, 'bt');
    mountImage(join(dir, 'bt.btrfs'), mnt, 'btrfs', 160);
    writeTree(mnt, { 'a.txt': 'same', 'b.txt': 'same' });
    sh('btrfs', ['subvolume', 'create', join(mnt, 'sv')]);
    writeFileSync(join(mnt, 'sv', 'c.txt'), 'same');
    // A second one named in Latin-1 (0xE9 alone is not UTF-8): its id is read as well.
    const latin1 = Buffer.concat([Buffer.from(join(mnt, 'sv')), Buffer.from([0xe9])]);
    sh('sh', ['-c', 'btrfs subvolume create "$(printf \'%s/sv\\351\' "$1")"', 'sh', mnt]);
    writeFileSync(Buffer.concat([latin1, Buffer.from('/d.txt')]), 'same');
    const cat = join(dir, 'bt.db');
    const s = scanJson(cat, mnt);
    expect(s.errors).toEqual([]);
    expect(s.files).toBe(4);
    const devs = devicesOf(cat);
    expect(devs.map((d) => d.identity).sort()).toEqual([
      expect.stringMatching(/^btrfs:[0-9a-f-]{36}:subvol:256$/),
      expect.stringMatching(/^btrfs:[0-9a-f-]{36}:subvol:257$/),
      expect.stringMatching(/^btrfs:[0-9a-f-]{36}:subvol:5$/),
    ]);
  });

  it('kernel filesystems below a root are skipped', (ctx) => {
    requireMounts(ctx);
    const tree = join(dir, 'withproc');
    writeTree(tree, { 'f.txt': 'f' });
    const procDir = join(tree, 'proc');
    mountProc(procDir);
    try {
      const s = scanJson(join(dir, 'proc.db'), tree);
      expect(s.files).toBe(1);
      expect(s.pruned.pseudo_filesystem).toBe(1);
    } finally {
      unmount(procDir);
    }
  });

  it('candidates on an unmounted filesystem are reported pending, then hashed when it is back', (ctx) => {
    requireMounts(ctx);
    const a = join(dir, 'pa');
    const b = join(dir, 'pb');
    mountTmpfs(a);
    mountImage(join(dir, 'pb.ext4'), b, 'ext4');
    writeFileSync(join(b, 'big.bin'), Buffer.alloc(10_000, 7));
    const cat = join(dir, 'pending.db');
    scanJson(cat, b); // alone: unique size, nothing hashed
    expect(countRows(cat, 'prefix_hash IS NOT NULL')).toBe(0);
    unmount(b);
    writeFileSync(join(a, 'same-size.bin'), Buffer.alloc(10_000, 7));
    const s = scanJson(cat, a);
    // Its twin's filesystem is away: the twin is pending; the local file got its prefix hash.
    expect(s.pending).toBe(1);
    mountLoop(join(dir, 'pb.ext4'), b);
    const s2 = scanJson(cat, a);
    expect(s2.pending).toBe(0);
    expect(countRows(cat, 'sha256 IS NOT NULL')).toBe(2);
    unmount(b);
  });
});
