/**
 * An execute's write-ahead log is copied back on a thread of its own (src/catalog/checkpointer.ts):
 * while it runs, the writing connection checkpoints only past a 64 MiB backstop, yet the log
 * stays small; stopped, or failed, the connection checkpoints as before. On a real catalog
 * file, with the built worker (dist/: the module starts it from its own folder, which src/
 * lacks).
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type * as CheckpointerMod from '../../src/catalog/checkpointer.js';
import type { DB } from '../../src/catalog/db.js';
import { openCatalog } from '../../src/catalog/open.js';
import { toMeta } from '../../src/scan/walker.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { mergeAndInsert } from '../helpers/scan-port-suite.js';

const { WalCheckpointer } = (await import(
  new URL('../../dist/catalog/checkpointer.js', import.meta.url).href
)) as typeof CheckpointerMod;

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

const MiB = 1 << 20;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const walBytes = (path: string) => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
const autocheckpoint = (db: DB) => db.pragma('wal_autocheckpoint', { simple: true }) as number;

/** A catalog file and a table of 1 MiB rows; `n` commits of one row each, paused between. */
async function catalog() {
  const d = tempDir();
  dirs.push(d);
  const path = join(d, 'c.db');
  const cat = openCatalog(path);
  cat.db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)');
  let next = 0;
  const commits = async (n: number): Promise<number> => {
    let most = 0;
    for (let i = 0; i < n; i++) {
      cat.db.prepare('INSERT INTO blobs (id, b) VALUES (?, randomblob(?))').run(next++, MiB);
      most = Math.max(most, walBytes(path));
      await pause(80);
    }
    return most;
  };
  return { cat, path, commits };
}

describe('the checkpointer thread', () => {
  it('keeps the log small while the connection checkpoints only at its backstop', async () => {
    const { cat, path, commits } = await catalog();
    const cp = new WalCheckpointer(cat.db);
    try {
      cp.start();
      expect(cp.running).toBe(true);
      expect(autocheckpoint(cat.db)).toBe(16384);
      // 40 MiB committed: the connection alone (64 MiB backstop) would keep all of it in the log.
      const most = await commits(40);
      expect(cp.failure).toBeUndefined();
      expect(most).toBeLessThan(20 * MiB);
      await cp.stop();
      expect(cp.running).toBe(false);
      expect(autocheckpoint(cat.db)).toBe(1000);
    } finally {
      await cp.stop();
      await cat.close();
    }
    // Every row in the file once the last connection closed (it checkpoints and drops the log).
    expect(existsSync(`${path}-wal`)).toBe(false);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare('SELECT count(*) FROM blobs').pluck().get()).toBe(40);
    } finally {
      db.close();
    }
  });

  it('without it, the same commits at the backstop keep the log growing (what the test above rules out)', async () => {
    const { cat, commits } = await catalog();
    try {
      cat.db.pragma('wal_autocheckpoint = 16384');
      expect(await commits(20)).toBeGreaterThan(19 * MiB);
    } finally {
      await cat.close();
    }
  });

  it('a thread that cannot open the catalog ends, and the connection checkpoints as before', async () => {
    const { cat, path, commits } = await catalog();
    const cp = new WalCheckpointer(cat.db);
    try {
      // The file gone from its name: the open connection keeps writing, the thread cannot open it.
      renameSync(path, `${path}.moved`);
      cp.start();
      for (let i = 0; i < 100 && cp.running; i++) await pause(20);
      expect(cp.running).toBe(false);
      expect(cp.failure).toMatch(/unable to open|no such file|does not exist/i);
      expect(autocheckpoint(cat.db)).toBe(1000);
      await commits(2);
      // Not started again by the next batch of intents (it would fail again, each time).
      cp.start();
      expect(cp.running).toBe(false);
      expect(autocheckpoint(cat.db)).toBe(1000);
    } finally {
      await cp.stop();
      await cat.close();
    }
  });

  it('keeps the process alive while it stops: a program whose last step awaits it exits 0', () => {
    // A command's last step is the catalog's close, awaited at the top level with nothing else
    // left to run. Unref'd while it stopped, the thread let the event loop empty before its
    // exit event came, and Node ended the process with 13 ("unsettled top-level await").
    const d = tempDir();
    dirs.push(d);
    const dist = fileURLToPath(new URL('../../dist/catalog/', import.meta.url));
    const program = `
      const { openCatalog } = await import(${JSON.stringify(join(dist, 'open.js'))});
      const { WalCheckpointer } = await import(${JSON.stringify(join(dist, 'checkpointer.js'))});
      const cat = openCatalog(${JSON.stringify(join(d, 'c.db'))});
      cat.db.exec('CREATE TABLE IF NOT EXISTS t (b BLOB)');
      const cp = new WalCheckpointer(cat.db);
      cp.start();
      if (!cp.running) throw new Error('the thread did not start');
      cat.db.prepare('INSERT INTO t VALUES (randomblob(100000))').run();
      await cp.stop();
      await cat.close();
      console.log('closed');
    `;
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect({ code: r.status, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({
        code: 0,
        stdout: 'closed',
        stderr: '',
      });
    }
  });

  /**
   * A catalog file in a temp directory, opened through the built port (dist/), whose
   * checkpointer finds its worker beside it.
   */
  async function builtCatalogFile() {
    const dist = new URL('../../dist/catalog/open.js', import.meta.url).href;
    const { openCatalog: openBuilt } = (await import(dist)) as { openCatalog: typeof openCatalog };
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, 'c.db');
    return { dir, path, open: () => openBuilt(path) };
  }

  it("starts once a scan's commits have grown the log, and the catalog's close stops it", async () => {
    const { path, open } = await builtCatalogFile();
    const cat = open();
    try {
      expect(autocheckpoint(cat.db)).toBe(1000);
      const writer = cat.scanWriter({ everyFiles: 1, everyMs: 60_000, always: false });
      const write = async (rows: number, commit: () => Promise<unknown>) => {
        await writer.begin();
        const insert = cat.db.prepare('INSERT INTO blobs VALUES (randomblob(?))');
        for (let i = 0; i < rows; i++) insert.run(MiB);
        await commit();
      };
      cat.db.exec('CREATE TABLE blobs (b BLOB NOT NULL)');
      // An unchanged rescan's commits: a log far below SQLite's first checkpoint, no thread.
      // (The connection checkpoints as before: its own limit, not the backstop.)
      await write(0, () => writer.commitIfDue(1));
      await write(1, () => writer.commitIfDue(1));
      expect(autocheckpoint(cat.db)).toBe(1000);
      // The last commit of a scan starts nothing either: there is nothing after it to overlap.
      await write(6, () => writer.commit());
      expect(autocheckpoint(cat.db)).toBe(1000);
      // A walk's commit that leaves the log past 1,000 pages (4 MiB) starts the thread: the
      // connection itself now checkpoints only at the backstop.
      await write(6, () => writer.commitIfDue(1));
      expect(autocheckpoint(cat.db)).toBe(16384);
      await write(1, () => writer.commitIfDue(1));
    } finally {
      await cat.close();
    }
    expect(existsSync(`${path}-wal`)).toBe(false);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) FROM blobs').pluck().get()).toBe(14);
    } finally {
      db.close();
    }
  });

  it("starts with a device's first scan, and not with a later one's", async () => {
    const { dir: d, open } = await builtCatalogFile();
    const owner = { pid: process.pid, startTime: '0' };
    /** A scan of the device at `d`, its tree opened as a scan opens it. */
    const scanOf = async (cat: ReturnType<typeof open>) => {
      const device = await cat.devices.register({
        identity: 'test:checkpointer',
        stable: true,
        fsType: 'test',
        stDev: statSync(d, { bigint: true }).dev,
        mountPoint: Buffer.from(d),
        mountRoot: Buffer.from('/'),
      });
      const scanId = await cat.scans.start({ root: Buffer.from(d), owner });
      await cat.scans.setRoot({ scanId, deviceId: device.id, fsPath: Buffer.from('/') });
      return { device, tree: await cat.tree.open(scanId) };
    };
    const first = open();
    try {
      expect(autocheckpoint(first.db)).toBe(1000);
      const { device, tree } = await scanOf(first);
      // The device has no file yet: every file will be written, the thread runs from here on.
      expect(autocheckpoint(first.db)).toBe(16384);
      writeFileSync(join(d, 'f'), 'x');
      const meta = toMeta(statSync(join(d, 'f'), { bigint: true }));
      await first.unitOfWork(() =>
        mergeAndInsert(tree, {
          deviceId: device.id,
          fsPath: Buffer.from('/'),
          parentDirId: undefined,
          files: [{ name: Buffer.from('f'), meta }],
          subdirs: [],
          kept: [],
          moves: 'none',
        }),
      );
    } finally {
      await first.close();
    }
    const later = open();
    try {
      await scanOf(later);
      // The device has files: this scan starts it only if its commits grow the log.
      expect(autocheckpoint(later.db)).toBe(1000);
    } finally {
      await later.close();
    }
  });

  it('never keeps the process alive: a program that closes its connection without stopping it exits', () => {
    // A scan or an execute closes its catalog, which stops the thread; a program (a test) that
    // closes only the connection, or ends without closing it, must still end. On Node 20 it
    // did not: the thread's 'message' listener had made it keep the event loop alive.
    const d = tempDir();
    dirs.push(d);
    const dist = fileURLToPath(new URL('../../dist/catalog/', import.meta.url));
    for (const end of ['cat.db.close();', '']) {
      const program = `
        const { openCatalog } = await import(${JSON.stringify(join(dist, 'open.js'))});
        const { WalCheckpointer } = await import(${JSON.stringify(join(dist, 'checkpointer.js'))});
        const cat = openCatalog(${JSON.stringify(join(d, 'c.db'))});
        const cp = new WalCheckpointer(cat.db);
        cp.start();
        if (!cp.running) throw new Error('the thread did not start');
        ${end}
        console.log('done');
      `;
      // From a file: run with -e, Node 20 exited either way.
      const script = join(d, 'program.mjs');
      writeFileSync(script, program);
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
      expect({ end, code: r.status, signal: r.signal, stdout: r.stdout.trim() }).toEqual({
        end,
        code: 0,
        signal: null,
        stdout: 'done',
      });
    }
  });

  it('starts once, and not at all on a read-only connection', async () => {
    const { cat, path } = await catalog();
    const cp = new WalCheckpointer(cat.db);
    const ro = new Database(path, { readonly: true });
    const roCp = new WalCheckpointer(ro as unknown as DB);
    try {
      cp.start();
      cp.start();
      expect(cp.running).toBe(true);
      roCp.start();
      expect(roCp.running).toBe(false);
    } finally {
      await cp.stop();
      ro.close();
      await cat.close();
    }
  });
});
