import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import {
  mountTmpfs,
  removeTree,
  requireMounts,
  sh,
  tempDir,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

function expectOneLineRefusal(r: ReturnType<typeof hashall>, pattern: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^hashall: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('opening the catalog', () => {
  let dir: string;
  let tree: string;
  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    writeTree(tree, { 'a.txt': 'hello', 'b.txt': 'hello' });
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('creates a private catalog at --catalog, in WAL mode, and HASHALL_CATALOG works too', () => {
    const cat = join(dir, 'new', 'sub', 'catalog.db');
    const r = hashall(['scan', tree, '--catalog', cat, '--quiet']);
    expect(r.code).toBe(0);
    expect(statSync(cat).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'new', 'sub')).mode & 0o777).toBe(0o700);
    const db = new Database(cat, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const env = join(dir, 'env.db');
    expect(hashall(['scan', tree, '--quiet'], { env: { HASHALL_CATALOG: env } }).code).toBe(0);
    expect(existsSync(env)).toBe(true);
  });

  it('defaults to ~/.hashall/catalog.db', () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    const r = hashall(['scan', tree, '--quiet'], { env: { HOME: home } });
    expect(r.code).toBe(0);
    expect(existsSync(join(home, '.hashall', 'catalog.db'))).toBe(true);
  });

  it('refuses a catalog from a newer schema and leaves it untouched', () => {
    const cat = join(dir, 'future.db');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    const db = new Database(cat);
    db.pragma('user_version = 99');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const before = sha(cat);
    expectOneLineRefusal(hashall(['scan', tree, '--catalog', cat]), /newer than this hashall/);
    expectOneLineRefusal(hashall(['stats', '--catalog', cat]), /newer than this hashall/);
    expect(sha(cat)).toBe(before);
  });

  it('refuses a file that is not a catalog, and an SQLite database that is not ours', () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'my precious notes\n'.repeat(20));
    const before = sha(text);
    expectOneLineRefusal(hashall(['scan', tree, '--catalog', text]), /not a hashall catalog/);
    expect(sha(text)).toBe(before);

    const other = join(dir, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1);');
    db.close();
    const before2 = sha(other);
    expectOneLineRefusal(hashall(['devices', '--catalog', other]), /not a hashall catalog/);
    expect(sha(other)).toBe(before2);

    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    expectOneLineRefusal(hashall(['scan', tree, '--catalog', empty]), /empty file/);
    expect(readFileSync(empty).length).toBe(0);
  });

  it('refuses a directory given as the catalog', () => {
    expectOneLineRefusal(hashall(['stats', '--catalog', dir]), /is a directory/);
  });

  it('refuses a truncated catalog', () => {
    const cat = join(dir, 'trunc.db');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    const db = new Database(cat);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const full = readFileSync(cat);
    writeFileSync(cat, full.subarray(0, 4096 + 100));
    const r = hashall(['stats', '--catalog', cat]);
    expectOneLineRefusal(r, /damaged|not a database|malformed/);
  });

  it('refuses a catalog on a read-only filesystem, leaving it untouched', (ctx) => {
    requireMounts(ctx);
    const ro = join(dir, 'ro');
    mountTmpfs(ro, 16);
    const cat = join(ro, 'catalog.db');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    sh('mount', ['-o', 'remount,ro', ro]);
    const before = sha(cat);
    expectOneLineRefusal(hashall(['scan', tree, '--catalog', cat]), /not writable|read-only/);
    expect(sha(cat)).toBe(before);
    // Creating a new catalog there is refused as well.
    expectOneLineRefusal(
      hashall(['scan', tree, '--catalog', join(ro, 'new.db')]),
      /cannot create catalog/,
    );
    expectOneLineRefusal(hashall(['stats', '--catalog', cat]), /not writable.*EROFS/);
  });

  it('answers bad usage with exit 2 and no stack trace', () => {
    const r = hashall(['scan', join(dir, 'does-not-exist'), '--catalog', join(dir, 'x.db')]);
    expectOneLineRefusal(r, /does-not-exist.*ENOENT/);
    expect(hashall(['scan', tree, '--jobs', '0', '--catalog', join(dir, 'x.db')]).code).toBe(2);
    expect(hashall(['scan', tree, '--hash', 'some', '--catalog', join(dir, 'x.db')]).code).toBe(2);
    expect(hashall(['frobnicate']).code).toBe(2);
  });
});
