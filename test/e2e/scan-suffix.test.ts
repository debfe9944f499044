/**
 * The suffix digest (src/scan/hash-job.ts SUFFIX_BYTES), on both backends through the CLI:
 * same-size files that share their first 4 KiB but not their last are never read whole; files
 * that share both are, and are found duplicates; a changed file's suffix is read again, and a
 * row of a catalog from before suffixes (SQLite migration 20, PostgreSQL 11) pairs as before,
 * so no duplicate is missed after an upgrade.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { hashall } from '../helpers/cli.js';
import { CLI_BACKENDS, hardlinkSaving, type CliBackend } from '../helpers/cli-backends.js';
import { removeTree, tempDir } from '../helpers/fs.js';

interface ScanJson {
  changed: number;
  new: number;
  hashed_files: number;
  hashed_bytes: number;
  pending: number;
}

const MiB = 1 << 20;
const SMALL = 50 * 1024;

/** `n` bytes that depend on `seed`, the same first 4 KiB for one `head`. */
function content(n: number, head: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i < 4096 ? (i * 13 + head) & 0xff : (i * 31 + seed) & 0xff;
  return b;
}

function scan(cat: string, tree: string): ScanJson {
  const r = hashall(['scan', tree, '--catalog', cat, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.json<ScanJson>();
}

/** Write on the catalog directly, as an older hashall's catalog would be. */
async function write(b: CliBackend, cat: string, sql: string): Promise<void> {
  if (b.name === 'SQLite') {
    const db = new Database(cat);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: cat });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe.each(CLI_BACKENDS)('suffix digests on $name', (b: CliBackend) => {
  let dir: string;
  let tree: string;
  let cat: string;
  const near = content(MiB, 1, 7);
  const nearB = Buffer.from(near);
  nearB[MiB - 1] = near[MiB - 1]! ^ 0xff; // only the last byte differs
  const twin = content(MiB, 2, 9);

  beforeAll(async () => {
    if (b.unavailable) return;
    await b.setup();
    dir = realpathSync(tempDir());
    tree = join(dir, 't');
    cat = await b.catalog(dir);
  });
  afterAll(() => {
    if (b.unavailable) return;
    b.teardown();
    removeTree(dir);
  });

  /** The active rows, or those of `names`. */
  const rows = (...names: string[]) =>
    b.query<{ name: Buffer; prefix: number; suffix: Buffer | null; sha256: Buffer | null }>(
      cat,
      `SELECT f.name, CASE WHEN f.prefix_hash IS NULL THEN 0 ELSE 1 END AS prefix,
              f.suffix_hash AS suffix, f.sha256 AS sha256
         FROM files f WHERE f.status = 'active'
          ${names.length ? `AND f.name IN (${names.map(() => '?').join(', ')})` : ''}
        ORDER BY f.name`,
      names.map((n) => Buffer.from(n)),
    );

  it.skipIf(b.unavailable !== undefined)(
    'a first scan reads the edges of a near-duplicate pair, never the whole of it',
    async () => {
      mkdirSync(tree);
      writeFileSync(join(tree, 'a.bin'), near);
      writeFileSync(join(tree, 'b.bin'), nearB);
      writeFileSync(join(tree, 'c.bin'), twin);
      writeFileSync(join(tree, 'd.bin'), twin);
      writeFileSync(join(tree, 'e.small'), content(SMALL, 3, 3));
      writeFileSync(join(tree, 'f.small'), content(SMALL, 3, 3));
      const s = scan(cat, tree);
      expect(s.hashed_files).toBe(6);
      // a, b: 4 KiB of prefix and 4 KiB of suffix each; c, d: the same, then read whole; the
      // small pair whole. Before suffixes, a and b were read whole too: 2 MiB more.
      expect(s.hashed_bytes).toBe(4 * 8192 + 2 * MiB + 2 * SMALL);
      expect(s.pending).toBe(0);
      const got = await rows();
      const shape = got.map((r) => [
        String(r.name),
        r.prefix,
        r.suffix !== null,
        r.sha256 !== null,
      ]);
      expect(shape).toEqual([
        ['a.bin', 1, true, false],
        ['b.bin', 1, true, false],
        ['c.bin', 1, true, true],
        ['d.bin', 1, true, true],
        ['e.small', 1, false, true],
        ['f.small', 1, false, true],
      ]);
      expect(got[0]!.suffix!.equals(got[1]!.suffix!)).toBe(false);
      expect(got[2]!.sha256!.equals(got[3]!.sha256!)).toBe(true);
      expect(await hardlinkSaving(b, cat)).toBe(MiB + SMALL);
      // `stats` counts them: six prefixes, four suffixes (the small pair has none), four whole.
      const stats = hashall(['stats', '--catalog', cat, '--json']).json<Record<string, number>>();
      expect(stats).toMatchObject({
        prefix_hashed_files: 6,
        suffix_hashed_files: 4,
        sha256_files: 4,
      });
      const text = hashall(['stats', '--catalog', cat]).stdout;
      expect(text).toContain('6 prefix (100.0%), 4 with the last 4 KiB (66.7%), 4 SHA-256 (66.7%)');
      // An unchanged rescan reads nothing.
      expect(scan(cat, tree)).toMatchObject({ hashed_files: 0, hashed_bytes: 0, pending: 0 });
    },
  );

  it.skipIf(b.unavailable !== undefined)(
    'a file changed to match its near twin: its edges are read again, then both whole',
    async () => {
      writeFileSync(join(tree, 'b.bin'), near);
      const s = scan(cat, tree);
      expect(s.changed).toBe(1);
      // b's prefix and suffix (its old suffix went with its old content), then a and b whole.
      expect(s.hashed_bytes).toBe(8192 + 2 * MiB);
      const [a, bb] = await rows('a.bin', 'b.bin');
      expect(a!.sha256!.equals(bb!.sha256!)).toBe(true);
      expect(await hardlinkSaving(b, cat)).toBe(2 * MiB + SMALL);
    },
  );

  it.skipIf(b.unavailable !== undefined)(
    'rows from before suffixes pair with a new file as before: an upgrade misses no duplicate',
    async () => {
      // What a hashall before suffixes left: every row without one (c and d read whole).
      await write(b, cat, 'UPDATE files SET suffix_hash = NULL');
      // A new copy of c: its edges are read, and it pairs with c and d, which have no suffix.
      copyFileSync(join(tree, 'c.bin'), join(tree, 'g.bin'));
      const s = scan(cat, tree);
      expect(s.new).toBe(1);
      expect(s.hashed_bytes).toBe(8192 + MiB);
      const [g] = await rows('g.bin');
      expect(g!.sha256).toEqual(createHash('sha256').update(twin).digest());
      expect(g!.suffix).toEqual(
        createHash('sha256')
          .update(twin.subarray(MiB - 4096))
          .digest(),
      );
      expect(await hardlinkSaving(b, cat)).toBe(3 * MiB + SMALL);
    },
  );
});
