/**
 * The UUID read from a filesystem's superblock (src/fs/superblock.ts) is the one `blkid -p`
 * reports and the one the filesystem was made with: a device registered by an older hashall
 * (through blkid) keeps its identity. Images are plain files made by each filesystem's mkfs; no
 * mount is needed. A missing mkfs skips its case, with the reason, unless CI requires the
 * filesystem tools (HASHALL_REQUIRE_MOUNTS=1, as for the mount tests).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { superblockUuid } from '../../src/fs/superblock.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const dir = tempDir('hashall-superblock-');
afterAll(() => removeTree(dir));

type Fs = 'ext4' | 'xfs' | 'btrfs';
const MKFS: Record<Fs, { tool: string; args: (image: string, uuid: string) => string[] }> = {
  ext4: { tool: 'mkfs.ext4', args: (image, uuid) => ['-q', '-F', '-U', uuid, image] },
  xfs: { tool: 'mkfs.xfs', args: (image, uuid) => ['-q', '-f', '-m', `uuid=${uuid}`, image] },
  btrfs: { tool: 'mkfs.btrfs', args: (image, uuid) => ['-q', '-f', '-U', uuid, image] },
};

function requireTool(tool: string, ctx: { skip: (note?: string) => void }): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0) return;
  const reason = `${tool} is not installed`;
  if (process.env.HASHALL_REQUIRE_MOUNTS === '1') throw new Error(`required: ${reason}`);
  console.warn(`skipping: ${reason}`);
  ctx.skip(reason);
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout.trim();
}

/** An image of `fs` made with `uuid`, at least the size each mkfs accepts. */
function image(fs: Fs, uuid: string): string {
  const path = join(dir, `${fs}-${uuid}.img`);
  run('truncate', ['-s', '320M', path]);
  run(MKFS[fs].tool, MKFS[fs].args(path, uuid));
  return path;
}

describe.each(['ext4', 'xfs', 'btrfs'] as const)('a %s superblock', (fs) => {
  it('gives the UUID the filesystem was made with, as blkid -p reports it', (ctx) => {
    requireTool(MKFS[fs].tool, ctx);
    requireTool('blkid', ctx);
    // Upper-case hex given, as a user may type it; blkid and hashall both print lower case.
    const uuid =
      fs === 'xfs'
        ? '0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0'
        : '12345678-9ABC-4DEF-8123-456789ABCDEF';
    const img = image(fs, uuid);
    const blkid = run('blkid', ['-p', '-o', 'value', '-s', 'UUID', img]);
    expect(blkid).toBe(uuid.toLowerCase());
    expect(superblockUuid(img, fs)).toEqual({ kind: 'uuid', uuid: uuid.toLowerCase() });
  });

  it('is not taken for another type of filesystem: the magic is checked', (ctx) => {
    requireTool(MKFS[fs].tool, ctx);
    const img = image(fs, '0a1b2c3d-0000-4000-8000-00000000abcd');
    const others = (['ext4', 'xfs', 'btrfs'] as const).filter((o) => o !== fs);
    for (const other of others) expect(superblockUuid(img, other)).toEqual({ kind: 'none' });
  });
});

describe('what it does not read', () => {
  it('an ext4 superblock whose UUID was cleared names none, as blkid reports none', (ctx) => {
    requireTool('mkfs.ext4', ctx);
    requireTool('tune2fs', ctx);
    const img = image('ext4', '5a5a5a5a-1111-4222-8333-444455556666');
    run('tune2fs', ['-U', 'clear', img]);
    expect(superblockUuid(img, 'ext4')).toEqual({ kind: 'none' });
  });

  it('a device too short for the superblock, or all zeros, names none', () => {
    const short = join(dir, 'short.img');
    writeFileSync(short, Buffer.alloc(2000));
    expect(superblockUuid(short, 'btrfs')).toEqual({ kind: 'none' });
    const zeros = join(dir, 'zeros.img');
    writeFileSync(zeros, Buffer.alloc(128 * 1024));
    for (const fs of ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs'])
      expect(superblockUuid(zeros, fs)).toEqual({ kind: 'none' });
  });

  it('a device that cannot be opened is unreadable, with the reason', () => {
    expect(superblockUuid(join(dir, 'no-such-device'), 'ext4')).toEqual({
      kind: 'unreadable',
      code: 'ENOENT',
    });
  });

  it('any other filesystem type is left to blkid', () => {
    const zeros = join(dir, 'zeros.img');
    expect(superblockUuid(zeros, 'vfat')).toEqual({ kind: 'unsupported' });
    expect(superblockUuid(zeros, 'f2fs')).toEqual({ kind: 'unsupported' });
    // A name from a prototype is not a layout.
    expect(superblockUuid(zeros, 'constructor')).toEqual({ kind: 'unsupported' });
  });
});
