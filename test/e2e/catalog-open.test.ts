import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import {
  bindMount,
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

  it('refuses to write a catalog on a read-only filesystem, leaving it untouched', (ctx) => {
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
    expectOneLineRefusal(
      hashall(['conductor', 'plan', 'p', '--catalog', cat]),
      /not writable.*EROFS/,
    );
  });

  /** Every reading command, run against `cat`: each must succeed (JSON on stdout). */
  function readEverything(cat: string, out: string): Record<string, unknown> {
    const docs: Record<string, unknown> = {};
    const commands: [string, string[]][] = [
      ['stats', ['stats']],
      ['devices', ['devices']],
      ['show-plan', ['conductor', 'show-plan', '1']],
      ['plans', ['conductor', 'plans']],
      ['status', ['conductor', 'status']],
      ['analyze', ['conductor', 'analyze']],
      ['dry-run', ['conductor', 'execute', '1', '--dry-run']],
      ['export', ['export', '--format', 'csv', '--out', join(out, 'files.csv')]],
      ['report', ['conductor', 'report', '1', '--format', 'json', '--out', join(out, 'r.json')]],
    ];
    // A private TMPDIR: a copy made to read the catalog must be gone when the command ends.
    const tmp = join(out, 'tmp');
    mkdirSync(tmp);
    for (const [name, args] of commands) {
      const r = hashall([...args, '--catalog', cat, '--json'], { env: { TMPDIR: tmp } });
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 0, stderr: '' });
      docs[name] = r.json();
      expect(readdirSync(tmp)).toEqual([]);
    }
    return docs;
  }

  it('reads a catalog on a read-only filesystem with every reading command', (ctx) => {
    requireMounts(ctx);
    const ro = join(dir, 'ro-read');
    mountTmpfs(ro, 16);
    const cat = join(ro, 'catalog.db');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    expect(hashall(['conductor', 'plan', 'p', '--catalog', cat, '--quiet']).code).toBe(0);
    sh('mount', ['-o', 'remount,ro', ro]);
    const before = sha(cat);
    const out = join(dir, 'ro-read-out');
    mkdirSync(out);
    const docs = readEverything(cat, out);
    expect(docs['stats']).toMatchObject({ files: 2 });
    expect(docs['show-plan']).toMatchObject({ id: 1, status: 'pending' });
    expect(docs['dry-run']).toMatchObject({ would_link: 1, failed: 0 });
    expect(readFileSync(join(out, 'files.csv'), 'utf8')).toMatch(/a\.txt/);
    expect(sha(cat)).toBe(before);
    expect(readdirSync(ro)).toEqual(['catalog.db']);
  });

  it('reads through a read-only bind mount while a writer holds the catalog open elsewhere', (ctx) => {
    requireMounts(ctx);
    const rw = join(dir, 'rw');
    const view = join(dir, 'ro-view');
    mkdirSync(rw);
    const cat = join(rw, 'catalog.db');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    expect(hashall(['conductor', 'plan', 'p', '--catalog', cat, '--quiet']).code).toBe(0);
    // A writer with a committed change still in the WAL (not checkpointed into the file).
    const writer = new Database(cat);
    try {
      writer.pragma('wal_autocheckpoint = 0');
      writer.prepare(`UPDATE devices SET alias = 'renamed'`).run();
      bindMount(rw, view);
      sh('mount', ['-o', 'remount,bind,ro', view]);
      const out = join(dir, 'ro-view-out');
      mkdirSync(out);
      const docs = readEverything(join(view, 'catalog.db'), out);
      expect(docs['devices']).toMatchObject({ devices: [{ alias: 'renamed' }] });
    } finally {
      writer.close();
    }
  });

  it('answers bad usage with exit 2 and no stack trace', () => {
    const r = hashall(['scan', join(dir, 'does-not-exist'), '--catalog', join(dir, 'x.db')]);
    expectOneLineRefusal(r, /does-not-exist.*ENOENT/);
    expect(hashall(['scan', tree, '--jobs', '0', '--catalog', join(dir, 'x.db')]).code).toBe(2);
    expect(hashall(['scan', tree, '--hash', 'some', '--catalog', join(dir, 'x.db')]).code).toBe(2);
    expect(hashall(['frobnicate']).code).toBe(2);
  });
});
