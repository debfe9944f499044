/**
 * What PostgreSQL's writes behind the walk (src/catalog/pg/write-behind.ts) add to the
 * guarantees the scan-port suites check on both backends: a first scan's new directories cost
 * no statement each, and rows below them no conflict handling; a queued write that fails is what the user is told, not the statements
 * refused after it; and the real CLI scans a tree with no driver warning on its stderr (one
 * statement at a time per connection). A real server (test/helpers/pg.ts).
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { byteaArray, int8Array } from '../../src/catalog/pg/binary-array.js';
import { BATCH_ROWS, HELD_ROWS } from '../../src/catalog/pg/write-behind.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { pgFailure } from '../../src/catalog/pg/failure.js';
import type { DeviceRow, ListedFile, ScanTree } from '../../src/catalog/scan-port.js';
import { toMeta } from '../../src/scan/walker.js';
import { hashall } from '../helpers/cli.js';
import { mktree, writeTree } from '../helpers/fs.js';
import { pgBackend, pgTestCluster, type Opened } from '../helpers/scan-backends.js';
import { newRows, openScan, scanCatalogFixture } from '../helpers/scan-port-suite.js';

const NEVER = { everyFiles: 1e9, everyMs: 1e9, always: false };
/** A dumped directory's path. */
const dirPath = (line: string): string =>
  Buffer.from((JSON.parse(line) as { path: string }).path, 'hex').toString();

describe('PostgreSQL writes behind the walk', () => {
  if (pgBackend.unavailable) {
    it.skip(`skipped: ${pgBackend.unavailable}`, () => undefined);
    return;
  }
  beforeAll(() => pgBackend.setup(), 120_000);
  afterAll(() => pgBackend.teardown());
  const f = scanCatalogFixture(pgBackend, { name: 'pg-write-behind' });
  let top: string;
  let opened: Opened;
  let device: DeviceRow;
  beforeEach(() => {
    ({ top, opened, device } = f);
  });

  const listing = (t: ScanTree, fsPath: string, parent: number | undefined, files: ListedFile[]) =>
    t.mergeListing({
      deviceId: device.id,
      fsPath: Buffer.from(fsPath),
      parentDirId: parent,
      files,
      subdirs: [],
      kept: [],
      moves: 'none',
    });
  const listed = (sub: string, names: readonly string[]): ListedFile[] =>
    names.map((n) => ({
      name: Buffer.from(n),
      meta: toMeta(lstatSync(join(top, sub, n), { bigint: true })),
    }));

  it('a first scan’s new directories below one the batch inserted cost no statement each', async () => {
    const n = 60;
    const files: Record<string, string> = {};
    for (let i = 0; i < n; i++) files[`d${i}/f.txt`] = `f${i}`;
    writeTree(top, files);
    const t = await openScan(f.port, top);
    const writer = f.port.scanWriter(NEVER);
    await writer.begin();
    const root = await listing(t, '/', undefined, []);
    const before = opened.statements!();
    for (let i = 0; i < n; i++) {
      const m = await listing(t, `/d${i}`, root.dirId, listed(`d${i}`, ['f.txt']));
      await t.insertFiles(newRows(device.id, m.dirId, m.fresh));
    }
    await writer.commit();
    // Reservations of ids (a block per table, with the sequence's name), one batch of three
    // statements, COMMIT: not one statement (or more) per directory as before.
    expect(opened.statements!() - before).toBeLessThan(12);
    expect((await opened.dump()).files).toHaveLength(n);
  });

  it('a new directory below one an earlier transaction of the scan inserted costs no statement of its own', async () => {
    writeTree(top, { 'a/e.txt': 'e', 'a/b/f.txt': 'f' });
    const t = await openScan(f.port, top);
    const writer = f.port.scanWriter(NEVER);
    await writer.begin();
    const root = await listing(t, '/', undefined, []);
    const a = await listing(t, '/a', root.dirId, listed('a', ['e.txt']));
    // (A first file reserves the block of file ids the next ones come from.)
    await t.insertFiles(newRows(device.id, a.dirId, a.fresh));
    await writer.commit();
    await writer.begin();
    const before = opened.statements!();
    // a's row is committed: another scan could have inserted b since, and if so its row is
    // taken when the batch is written (test/unit/scan-port-overlap.test.ts), not looked up now.
    const b = await listing(t, '/a/b', a.dirId, listed('a/b', ['f.txt']));
    await t.insertFiles(newRows(device.id, b.dirId, b.fresh));
    expect(opened.statements!() - before).toBe(0);
    await writer.commit();
    const dump = await opened.dump();
    expect(dump.dirs.map(dirPath)).toEqual(['/', '/a', '/a/b']);
    expect(dump.files).toHaveLength(2);
  });

  it('a timed commit is queued behind the walk: sent after the rows, visible to others once answered, its failure the next wait’s', async () => {
    writeTree(top, { 'a/x.txt': 'x', 'b/y.txt': 'y' });
    const t = await openScan(f.port, top);
    const writer = f.port.scanWriter({ everyFiles: 1, everyMs: 1e9, always: false });
    const other = (await connectPg(opened.url!)).client;
    try {
      await writer.begin();
      const root = await listing(t, '/', undefined, []);
      const a = await listing(t, '/a', root.dirId, listed('a', ['x.txt']));
      await t.insertFiles(newRows(device.id, a.dirId, a.fresh));
      const from = opened.statementTexts!().length;
      expect(await writer.commitIfDue(1)).toBe(true);
      // Queued behind the rows: the walk waited for neither.
      expect(opened.statementTexts!().slice(from)).not.toContain('COMMIT');
      // A unit of work started now joins the transaction the queued BEGIN opens.
      const b = await f.port.unitOfWork(() => listing(t, '/b', root.dirId, listed('b', ['y.txt'])));
      await t.insertFiles(newRows(device.id, b.dirId, b.fresh));
      expect(opened.inTransaction()).toBe(true);
      // Once a later statement has answered, the first transaction is committed for all.
      await f.port.devices.list();
      const sent = opened.statementTexts!().slice(from);
      const at = (re: RegExp) => sent.findIndex((q) => re.test(q));
      expect(at(/^COPY files\b/)).toBeGreaterThanOrEqual(0);
      expect(at(/^COPY files\b/)).toBeLessThan(at(/^COMMIT$/));
      expect(at(/^COMMIT$/)).toBeLessThan(at(/^BEGIN$/));
      const seen = await other.query<{ name: string }>(
        `SELECT convert_from(name, 'UTF8') AS name FROM files ORDER BY name`,
      );
      expect(seen.rows.map((r) => r.name)).toEqual(['x.txt']);
      await writer.commit();
      expect((await opened.dump()).files).toHaveLength(2);

      // A COMMIT refused behind the walk (a check deferred to it) fails the next wait, with
      // its cause; the rows of its transaction are not kept.
      await other.query(`CREATE FUNCTION refuse_z() RETURNS trigger LANGUAGE plpgsql AS $$
                           BEGIN RAISE EXCEPTION 'no z at commit'; END $$`);
      await other.query(`CREATE CONSTRAINT TRIGGER refuse_z AFTER INSERT ON files
                           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                           WHEN (NEW.name = '\\x7a'::bytea) EXECUTE FUNCTION refuse_z()`);
      writeTree(top, { 'c/z': 'z' });
      await writer.begin();
      const c = await listing(t, '/c', root.dirId, listed('c', ['z']));
      await t.insertFiles(newRows(device.id, c.dirId, c.fresh));
      expect(await writer.commitIfDue(1)).toBe(true);
      await expect(writer.commit()).rejects.toThrow(/no z at commit/);
      await writer.abort();
      expect(opened.inTransaction()).toBe(false);
      const dump = await opened.dump();
      expect(dump.files).toHaveLength(2);
      expect(dump.dirs.map(dirPath)).not.toContain('/c');
    } finally {
      await other.end();
    }
  });

  it('inserts rows below a directory its transaction inserted plainly, elsewhere keeping a row another scan inserted', async () => {
    writeTree(top, { 'a.txt': 'a', 'sub/b.txt': 'b', 'c.txt': 'c' });
    const t = await openScan(f.port, top);
    /** The INSERTs of file rows sent while fn ran, as 'plain' or 'keep-existing'. */
    const inserts = async (fn: () => Promise<void>) => {
      const from = opened.statementTexts!().length;
      await fn();
      return opened.statementTexts!()
        .slice(from)
        .filter((q) => /^(INSERT INTO|COPY) files\b/.test(q))
        .map((q) => (/ON CONFLICT/.test(q) ? 'keep-existing' : 'plain'));
    };
    const writer = f.port.scanWriter(NEVER);
    let rootId = 0;
    // One transaction inserts the root and, below it, sub: neither can hold another's row.
    expect(
      await inserts(async () => {
        await writer.begin();
        const root = await listing(t, '/', undefined, listed('', ['a.txt']));
        rootId = root.dirId;
        await t.insertFiles(newRows(device.id, root.dirId, root.fresh));
        const sub = await listing(t, '/sub', root.dirId, listed('sub', ['b.txt']));
        await t.insertFiles(newRows(device.id, sub.dirId, sub.fresh));
        await writer.commit();
      }),
    ).toEqual(['plain']);
    // The next transaction adds a row to the root, committed before it: another scan may have
    // inserted that path meanwhile, so the insert keeps theirs.
    expect(
      await inserts(async () => {
        await writer.begin();
        await t.insertFiles(newRows(device.id, rootId, listed('', ['c.txt'])));
        await writer.commit();
      }),
    ).toEqual(['keep-existing']);
    expect((await opened.dump()).files).toHaveLength(3);
  });

  it('a first scan claims its device in the hash stages too: their results mark no key one by one', async () => {
    writeTree(top, { 'a.txt': 'same', 'b.txt': 'same', 'c.txt': 'other' });
    const results = async (ids: readonly number[], files: ListedFile[]) =>
      f.port.unitOfWork(() =>
        f.port.hashing.writeResults({
          stored: files.map((x, i) => ({
            target: { fileId: ids[i]!, paths: 1, deviceId: device.id, ...x.meta },
            prefix: Buffer.from(`prefix of ${x.name.toString()}`),
            sha256: Buffer.from(`sha of ${x.name.toString()}`.padEnd(32, '.')),
          })),
          read: [],
          failed: [],
        }),
      );
    const dirty = () => opened.count!('SELECT count(*) AS n FROM group_dirty');
    const claimed = () => opened.count!('SELECT count(*) AS n FROM group_dirty_devices');
    // This connection's scan lists the device for the first time (no row on it before).
    await f.port.hashing.startSession();
    const t = await openScan(f.port, top);
    const writer = f.port.scanWriter(NEVER);
    await writer.begin();
    const files = listed('', ['a.txt', 'b.txt', 'c.txt']);
    const root = await listing(t, '/', undefined, files);
    const ids = await t.insertFiles(newRows(device.id, root.dirId, root.fresh));
    await writer.commit();
    expect(await claimed()).toBe(1);
    // A hash stage's transaction after the walk: claimed again, so nothing is marked.
    await results(ids.slice(0, 1), files.slice(0, 1));
    expect(await dirty()).toBe(0);
    // The next scan on this connection is not the device's first: its results mark keys.
    await f.port.hashing.startSession();
    await results(ids.slice(1, 2), files.slice(1, 2));
    expect(await dirty()).toBe(1);
  });

  /** A scan with its transaction open and its root listed; `meta`: a real file's, for rows. */
  const openRoot = async () => {
    writeTree(top, { 'a.txt': 'a' });
    const [a] = listed('', ['a.txt']);
    const t = await openScan(f.port, top);
    const writer = f.port.scanWriter(NEVER);
    await writer.begin();
    const root = await listing(t, '/', undefined, []);
    return { meta: a!.meta, t, writer, rootId: root.dirId };
  };
  /** New rows of the root as the walk gives them, with `hashes(name)` or none. */
  const rowsOf = (
    dirId: number,
    names: readonly string[],
    meta: ListedFile['meta'],
    hashes?: (name: string) => { prefix: Buffer; sha256: Buffer },
  ) =>
    names.map((n) => ({
      deviceId: device.id,
      dirId,
      name: Buffer.from(n),
      meta,
      hashes: hashes?.(n),
    }));
  const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => prefix + i);
  const digests = (tag: string) => ({
    prefix: Buffer.from(`prefix ${tag}`),
    sha256: Buffer.from(`sha ${tag}`.padEnd(32, '.')),
  });

  it('holds a row the walk may still hash out of a full batch: it takes its hashes there and is written at the commit', async () => {
    const { meta, t, writer, rootId } = await openRoot();
    const from = opened.statementTexts!().length;
    // `first` and `never` come before a full batch of rows with their hashes: the batch is
    // sent (the walk's memory stays bounded) without them.
    const [first] = await t.insertFiles(rowsOf(rootId, ['first', 'never'], meta));
    await t.insertFiles(rowsOf(rootId, names('h', BATCH_ROWS), meta, digests));
    await f.port.devices.list(); // the batch's step has run
    expect(
      opened.statementTexts!()
        .slice(from)
        .filter((q) => /^COPY files\b/.test(q)),
    ).toHaveLength(1);
    // A second file of its size turns up: `first` is hashed while still held.
    await f.port.hashing.writeResults({
      stored: [
        { target: { fileId: first!, paths: 1, deviceId: device.id, ...meta }, ...digests('first') },
      ],
      read: [],
      failed: [],
    });
    await writer.commit();
    const sent = opened.statementTexts!().slice(from);
    // Written once, with its hashes: no update of a written row.
    expect(sent.filter((q) => /^COPY files\b/.test(q))).toHaveLength(2);
    expect(sent.filter((q) => /\bUPDATE files\b/.test(q))).toEqual([]);
    const dump = (await opened.dump()).files.map(
      (l) => JSON.parse(l) as Record<string, string | null>,
    );
    expect(dump).toHaveLength(BATCH_ROWS + 2);
    const row = (n: string) => dump.find((r) => Buffer.from(r.name!, 'hex').toString() === n)!;
    expect(row('first').sha256).toBe(digests('first').sha256.toString('hex'));
    // A row never hashed is written at the commit all the same.
    expect(row('never').sha256).toBeNull();
    expect(row('never').live).toBe('1');
  });

  it('holds HELD_ROWS rows at most: the oldest beyond them go with the batch', async () => {
    const { meta, t, writer, rootId } = await openRoot();
    // More rows without hashes than may be held, then a full batch of rows with theirs.
    const ids = await t.insertFiles(rowsOf(rootId, names('u', HELD_ROWS + 1), meta));
    await t.insertFiles(rowsOf(rootId, names('h', BATCH_ROWS), meta, digests));
    // The oldest row was sent with the batch: its hashes update the written row; the newest
    // is still held and takes them in the buffer. Rows updated in this transaction, counted
    // by the server after what was queued:
    const stored = [ids[0]!, ids[HELD_ROWS]!].map((fileId) => ({
      target: { fileId, paths: 1, deviceId: device.id, ...meta },
      prefix: Buffer.from('p'),
      sha256: Buffer.alloc(32, 7),
    }));
    await f.port.hashing.writeResults({ stored, read: [], failed: [] });
    expect(
      await opened.count!(
        `SELECT n_tup_upd AS n FROM pg_stat_xact_user_tables WHERE relname = 'files'`,
      ),
    ).toBe(1);
    await writer.commit();
    expect(
      await opened.count!(`SELECT count(*) AS n FROM files WHERE sha256 = '\\x${'07'.repeat(32)}'`),
    ).toBe(2);
  });

  it('writes 64-bit fields exactly by COPY, whether the row went with its batch or was held first', async () => {
    const { meta, t, writer, rootId } = await openRoot();
    // Values whose 32-bit halves matter: each sign, each half's edges, int8's own edges.
    const values: [bigint, bigint, bigint, bigint][] = [
      [2n ** 63n - 1n, 0n, -1n, -(2n ** 63n)],
      [2n ** 32n, 2n ** 32n - 1n, -(2n ** 32n), -(2n ** 31n) - 1n],
      [2n ** 31n, 1n, -1_234_567_890_123_456_789n, 1_700_000_000_123_456_789n],
    ];
    const rows = (tag: string, hashed: boolean) =>
      values.map(([inode, size, mtimeNs, ctimeNs], i) => ({
        deviceId: device.id,
        dirId: rootId,
        name: Buffer.from(`${tag}${i}`),
        meta: { ...meta, inode, size, mtimeNs, ctimeNs },
        hashes: hashed ? digests(tag) : undefined,
      }));
    // `held` rows have no hashes: kept back from the full batch after them, then written at
    // the commit; `sent` rows have theirs and go with that batch.
    await t.insertFiles(rows('held', false));
    await t.insertFiles(rows('sent', true));
    await t.insertFiles(rowsOf(rootId, names('fill', BATCH_ROWS), meta, digests));
    await writer.commit();
    const dump = (await opened.dump()).files.map(
      (l) => JSON.parse(l) as Record<string, string | null>,
    );
    for (const tag of ['held', 'sent'])
      values.forEach(([inode, size, mtimeNs, ctimeNs], i) => {
        const row = dump.find((r) => Buffer.from(r.name!, 'hex').toString() === `${tag}${i}`)!;
        expect([row.inode, row.size, row.mtime_ns, row.ctime_ns]).toEqual(
          [inode, size, mtimeNs, ctimeNs].map(String),
        );
      });
  });

  it('refuses a row whose 64-bit field is out of range rather than writing it wrapped', async () => {
    writeTree(top, { 'a.txt': 'a' });
    const t = await openScan(f.port, top);
    const [a] = listed('', ['a.txt']);
    await expect(
      f.port.unitOfWork(async () => {
        const m = await listing(t, '/', undefined, []);
        await t.insertFiles(
          newRows(device.id, m.dirId, [{ ...a!, meta: { ...a!.meta, size: 2n ** 63n } }]),
        );
      }),
    ).rejects.toThrow(/out of range/);
    expect((await opened.dump()).files).toEqual([]);
  });

  it('a queued write that fails is reported as the cause, not the statements refused after it', async () => {
    writeTree(top, { 'a.txt': 'a' });
    const t = await openScan(f.port, top);
    const url = pgTestCluster().url('x');
    let seen: unknown;
    await f.port
      .unitOfWork(async () => {
        const m = await listing(t, '/', undefined, []);
        const [a] = listed('', ['a.txt']);
        // A full batch (so it is sent at once: rows with their hashes, none held back) of
        // rows in a directory that does not exist.
        const rows = Array.from({ length: BATCH_ROWS }, (_, i) => ({
          deviceId: device.id,
          dirId: m.dirId + 1000,
          name: Buffer.from(`n${i}`),
          meta: a!.meta,
          hashes: { prefix: Buffer.from('p'), sha256: Buffer.alloc(32) },
        }));
        await t.insertFiles(rows);
        // A statement that reads nothing queued runs after the queued insert, in a
        // transaction that insert aborted.
        await f.port.devices.list().catch((err: unknown) => {
          seen = err;
        });
      })
      .catch(() => undefined);
    expect((seen as { code?: string }).code).toBe('25P02');
    const line = pgFailure(url, seen)?.message ?? '';
    expect(line).toMatch(/23503: .*foreign key/);
    expect(line).not.toMatch(/current transaction is aborted/);
    expect(opened.inTransaction()).toBe(false);
  });

  it('a COPY of rows that fails is reported with its cause, and the connection rolls back and goes on', async () => {
    writeTree(top, { 'd/a.txt': 'a' });
    const t = await openScan(f.port, top);
    const url = pgTestCluster().url('x');
    let failure: unknown;
    await f.port
      .unitOfWork(async () => {
        const root = await listing(t, '/', undefined, []);
        const d = await listing(t, '/d', root.dirId, listed('d', ['a.txt']));
        // The same path twice, below a directory this transaction inserted: both by COPY.
        await t.insertFiles(newRows(device.id, d.dirId, [...d.fresh, ...d.fresh]));
        await f.port.hashing.pending();
      })
      .catch((err: unknown) => {
        failure = err;
      });
    expect(pgFailure(url, failure)?.message ?? String(failure)).toMatch(/23505: .*duplicate key/);
    expect(opened.inTransaction()).toBe(false);
    expect(await opened.dump()).toEqual({ dirs: [], files: [] });
    // The connection is usable: the same directory again, once.
    await f.port.unitOfWork(async () => {
      const root = await listing(t, '/', undefined, []);
      const d = await listing(t, '/d', root.dirId, listed('d', ['a.txt']));
      await t.insertFiles(newRows(device.id, d.dirId, d.fresh));
    });
    expect((await opened.dump()).files).toHaveLength(1);
  });

  it('the CLI scans a tree into PostgreSQL with nothing on stderr: one statement at a time', async () => {
    mktree(join(f.dir, 'm'), ['--files', '400', '--seed', '3']);
    const url = pgTestCluster().url(await pgTestCluster().createDatabase());
    const r = hashall(['scan', join(f.dir, 'm'), '--catalog', url, '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('sends arrays in the binary format the server reads back exactly: signed 64-bit values, NULLs, empty and non-UTF-8 bytes', async () => {
    const ints = [0, 1, -1, 2 ** 53 - 1, -(2 ** 40) - 3, 4_294_967_296, null];
    const bigs = [-(2n ** 63n), 2n ** 63n - 1n, -5n, 0n];
    const bytes = [Buffer.alloc(0), null, Buffer.from([0xff, 0x00, 0x0a, 0x2f]), Buffer.from('é')];
    const { client } = await connectPg(pgTestCluster().url('postgres'));
    try {
      const r = await client.query<{ i: string[] | null; b: string[]; y: (Buffer | null)[] }>(
        `SELECT $1::int8[]::text[] AS i, $2::int8[]::text[] AS b, $3::bytea[] AS y`,
        [int8Array(ints), int8Array(bigs), byteaArray(bytes)],
      );
      const row = r.rows[0]!;
      expect(row.i).toEqual(ints.map((v) => (v === null ? null : String(v))));
      expect(row.b).toEqual(bigs.map(String));
      expect(row.y).toEqual(bytes);
    } finally {
      await client.end();
    }
    expect(() => int8Array([1.5])).toThrow(RangeError);
  });
});
