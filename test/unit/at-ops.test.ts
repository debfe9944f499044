/**
 * The executor's two ways of acting in a directory (src/fs/at-ops.ts) on real files: the same
 * results, stats equal to Node's own lstat field for field, and no way out of the directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  constants,
} from 'node:fs';
import { join } from 'node:path';
import { atOpsOf, DIR_NOFOLLOW } from '../../src/fs/at-ops.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const b = (s: string) => Buffer.from(s);
const FIELDS = [
  'dev',
  'ino',
  'mode',
  'nlink',
  'uid',
  'gid',
  'rdev',
  'size',
  'blksize',
  'blocks',
  'atimeNs',
  'mtimeNs',
  'ctimeNs',
] as const;

describe.each(['native', 'proc'] as const)('at-ops (%s)', (kind) => {
  const ops = atOpsOf(kind);
  let dir: string;
  let fd: number;
  beforeAll(() => {
    dir = tempDir();
    writeFileSync(join(dir, 'f'), 'hello');
    mkdirSync(join(dir, 'sub'));
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link'));
    fd = openSync(dir, DIR_NOFOLLOW);
  });
  afterAll(() => {
    closeSync(fd);
    removeTree(dir);
  });

  it('lstat equals Node lstat, field for field; a symlink is not followed', (ctx) => {
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    for (const name of ['f', 'sub', 'link']) {
      const mine = ops.lstatAt(fd, b(name));
      const node = lstatSync(join(dir, name), { bigint: true });
      for (const k of FIELDS) expect(mine[k], `${name}.${k}`).toBe(node[k]);
      expect(mine.isFile()).toBe(node.isFile());
      expect(mine.isDirectory()).toBe(node.isDirectory());
      expect(mine.isSymbolicLink()).toBe(node.isSymbolicLink());
    }
  });

  it('link, rename, unlink, mkdir, rmdir act in the open directory', (ctx) => {
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    ops.linkAt({ dirFd: fd, name: b('f') }, { dirFd: fd, name: b('g') });
    expect(lstatSync(join(dir, 'g')).ino).toBe(lstatSync(join(dir, 'f')).ino);
    ops.renameAt({ dirFd: fd, name: b('g') }, { dirFd: fd, name: b('h') });
    expect(readFileSync(join(dir, 'h'), 'utf8')).toBe('hello');
    ops.unlinkAt(fd, b('h'));
    expect(() => lstatSync(join(dir, 'h'))).toThrow(/ENOENT/);
    ops.mkdirAt(fd, b('d'), 0o700);
    expect(lstatSync(join(dir, 'd')).mode & 0o777).toBe(0o700);
    ops.rmdirAt(fd, b('d'));
    expect(() => lstatSync(join(dir, 'd'))).toThrow(/ENOENT/);
  });

  it('refuses a symlinked directory and a symlinked file, with Node-shaped errors', (ctx) => {
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    // O_DIRECTORY | O_NOFOLLOW on a symlink: ENOTDIR (VerifiedDir says "no longer a directory").
    expect(() => ops.openDirAt(fd, b('link'))).toThrow(
      expect.objectContaining({ code: 'ENOTDIR' }),
    );
    expect(() => ops.openAt(fd, b('link'), constants.O_RDONLY)).toThrow(
      expect.objectContaining({ code: 'ELOOP' }),
    );
    expect(() => ops.lstatAt(fd, b('missing'))).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });

  it('never takes more than one component (native: EINVAL)', (ctx) => {
    if (kind !== 'native') return ctx.skip('the /proc way names a component by its path');
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    expect(() => ops.lstatAt(fd, b('sub/../f'))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => ops.unlinkAt(fd, b(join(dir, 'f')))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(lstatSync(join(dir, 'f')).isFile()).toBe(true);
  });

  it('opens a path with no symlink on it in one call, or says to walk', (ctx) => {
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    const through = ops.openDirPath(b(join(dir, 'link')));
    expect(through).toBeUndefined(); // refused: the caller walks and names the component
    const direct = ops.openDirPath(b(join(dir, 'sub')));
    if (kind === 'proc') expect(direct).toBeUndefined();
    else {
      expect(direct).toBeGreaterThanOrEqual(0);
      closeSync(direct!);
    }
  });
});
