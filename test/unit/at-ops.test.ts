/**
 * The executor's two ways of acting in a directory (src/fs/at-ops.ts) on real files: the same
 * results, stats equal to Node's own lstat field for field, and no way out of the directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeSync,
  fstatSync,
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

  it('fstat of an open file equals Node fstat, field for field', (ctx) => {
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    const f = openSync(join(dir, 'f'), constants.O_RDONLY);
    try {
      const mine = ops.fstat(f);
      const node = fstatSync(f, { bigint: true });
      for (const k of FIELDS) expect(mine[k], k).toBe(node[k]);
      expect(mine.isFile()).toBe(true);
      expect(ops.fstat(fd).isDirectory()).toBe(true);
    } finally {
      closeSync(f);
    }
    expect(() => ops.fstat(987654)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('sameBytes: equal files, a byte differing anywhere, a file ending early, across chunks', (ctx) => {
    if (!ops) return ctx.skip('the native addon has no *at() calls (npm run build:native)');
    // Chunks of 7 bytes: the comparison crosses several reads, and the last one is short.
    const bufs = { a: Buffer.alloc(7), b: Buffer.alloc(7) };
    const content = Buffer.from('0123456789abcdefghijklmnopq'); // 27 bytes
    const open = (name: string, bytes: Buffer) => {
      writeFileSync(join(dir, name), bytes);
      return openSync(join(dir, name), constants.O_RDONLY);
    };
    const flip = (at: number) => {
      const c = Buffer.from(content);
      c[at] = c[at]! ^ 1;
      return c;
    };
    const a = open('same-a', content);
    const fds = [a];
    try {
      const same = open('same-b', content);
      fds.push(same);
      expect(ops.sameBytes(a, same, content.length, bufs)).toBe(true);
      for (const at of [0, 6, 7, 13, 26]) {
        const other = open(`differ-${at}`, flip(at));
        fds.push(other);
        expect(ops.sameBytes(a, other, content.length, bufs), `byte ${at}`).toBe(false);
        expect(ops.sameBytes(other, a, content.length, bufs), `byte ${at}, swapped`).toBe(false);
      }
      const short = open('short', content.subarray(0, 20));
      fds.push(short);
      expect(ops.sameBytes(a, short, content.length, bufs)).toBe(false);
      expect(ops.sameBytes(short, a, content.length, bufs)).toBe(false);
      const empty1 = open('empty1', Buffer.alloc(0));
      const empty2 = open('empty2', Buffer.alloc(0));
      fds.push(empty1, empty2);
      expect(ops.sameBytes(empty1, empty2, 0, bufs)).toBe(true);
      expect(() => ops.sameBytes(a, fd, content.length, bufs)).toThrow(
        expect.objectContaining({ code: 'EISDIR' }),
      );
    } finally {
      for (const f of fds) closeSync(f);
    }
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
