/**
 * Prefetched listing fingerprints through the scan port, on each backend (SQLite, and
 * PostgreSQL in a throwaway cluster; test/helpers/scan-backends.ts): the stored fingerprints
 * of a root's subtree are read a page at a time, only that subtree's (a sibling whose name
 * starts with the root's is not below it), and a page of unchanged directories is marked
 * listed in one statement, each only while it still holds the fingerprint it was matched on.
 */
import { join } from 'node:path';
import { beforeEach, expect, it } from 'vitest';
import type { PgScanCatalog } from '../../src/catalog/pg/scan.js';
import type { DeviceRow, ScanTree, StoredFingerprint } from '../../src/catalog/scan-port.js';
import type { Opened } from '../helpers/scan-backends.js';
import { OWNER, describeOnScanBackends, scanCatalogFixture } from '../helpers/scan-port-suite.js';

/** Directories of the catalog, in path (byte) order: '-' and '0' sort around '/'. */
const DIRS = ['/', '/a', '/a-b', '/a/x', '/a/x/y', '/a0', '/b'];
const fpOf = (path: string, round = 0): Buffer =>
  Buffer.alloc(32, (DIRS.indexOf(path) + 1) * 16 + round);

describeOnScanBackends('prefetched fingerprints on $name', (backend) => {
  const f = scanCatalogFixture(backend, { name: 'prefetch', stDev: 9n });
  let dir: string;
  let opened: Opened;
  let port: PgScanCatalog;
  let device: DeviceRow;
  beforeEach(async () => {
    ({ dir, opened, port, device } = f);
    // A finished scan that merged every directory (empty) with its fingerprint.
    const t = await newScan();
    await port.unitOfWork(async () => {
      for (const path of DIRS) await mergeEmpty(t, path, fpOf(path));
      await t.applyDeletions();
    });
  });

  const newScan = async (): Promise<ScanTree> =>
    port.tree.open(await port.scans.start({ root: Buffer.from(join(dir, 'tree')), owner: OWNER }));

  async function mergeEmpty(t: ScanTree, path: string, fingerprint: Buffer) {
    const names = DIRS.filter((d) => d !== path && d.startsWith(path === '/' ? '/' : `${path}/`))
      .map((d) => d.slice(path === '/' ? 1 : path.length + 1))
      .filter((n) => !n.includes('/'));
    return t.mergeListing({
      deviceId: device.id,
      fsPath: Buffer.from(path),
      parentDirId: undefined,
      files: [],
      subdirs: names.map((n) => Buffer.from(n)),
      kept: [],
      moves: 'none',
      fingerprint,
    });
  }

  /** The scope's rows as pages of paths, each page sorted (no order is promised). */
  async function prefetch(t: ScanTree, under: string, pageSize?: number) {
    const pages: StoredFingerprint[][] = [];
    for await (const p of t.storedFingerprints({
      deviceId: device.id,
      under: Buffer.from(under),
      pageSize,
    }))
      pages.push([...p]);
    return pages;
  }
  const pathOf = (r: StoredFingerprint): string => Buffer.from(r.pathHex, 'hex').toString();
  const paths = (pages: StoredFingerprint[][]): string[] => pages.flat().map(pathOf).sort();

  it('reads the scope’s fingerprints only, a page at a time', async () => {
    const t = await newScan();
    // Scopes that hold most of the catalog (read in row-id order) and small ones (through the
    // path index): the same rows either way.
    const scopes: [string, string[]][] = [
      ['/', DIRS],
      // A subtree: the directory itself and what is below it; not '/a-b' nor '/a0'.
      ['/a', ['/a', '/a/x', '/a/x/y']],
      ['/a/x', ['/a/x', '/a/x/y']],
      ['/a/x/y', ['/a/x/y']],
      ['/b', ['/b']],
      ['/c', []],
    ];
    for (const [under, want] of scopes) {
      const all = await prefetch(t, under);
      expect(paths(all), under).toEqual([...want].sort());
      for (const r of all.flat())
        expect(r.fingerprintHex.toLowerCase()).toBe(fpOf(pathOf(r)).toString('hex'));
      // Pages of one and two: every row once, none longer than asked.
      for (const size of [1, 2]) {
        const paged = await prefetch(t, under, size);
        expect(paths(paged), `${under} by ${size}`).toEqual([...want].sort());
        for (const p of paged) expect(p.length).toBeLessThanOrEqual(size);
      }
    }
  });

  it('leaves out a directory whose fingerprint a scan that did not finish replaced', async () => {
    const killed = await newScan();
    await port.unitOfWork(async () => {
      await mergeEmpty(killed, '/a/x', fpOf('/a/x', 1));
      await killed.discardParked();
    });
    const t = await newScan();
    expect(paths(await prefetch(t, '/a'))).toEqual(['/a', '/a/x/y']);
    expect(paths(await prefetch(t, '/'))).toEqual(DIRS.filter((d) => d !== '/a/x').sort());
    // In pages of one and two too: a page whose only row is left out does not end the read.
    for (const size of [1, 2]) {
      expect(paths(await prefetch(t, '/a', size))).toEqual(['/a', '/a/x/y']);
      expect(paths(await prefetch(t, '/', size))).toEqual(DIRS.filter((d) => d !== '/a/x').sort());
    }
  });

  it('marks a page listed in one statement, skipping what changed since the prefetch', async () => {
    const t = await newScan();
    const rows = (await prefetch(t, '/')).flat();
    // Meanwhile another scan merges '/b' with another listing: its fingerprint is no longer
    // the one prefetched, so the page must not mark it.
    const other = await newScan();
    await port.unitOfWork(() => mergeEmpty(other, '/b', fpOf('/b', 1)).then(() => undefined));
    const before = opened.statements?.();
    const marked = await port.unitOfWork(() =>
      t.markUnchanged(
        rows.map((r) => ({ dirId: r.dirId, fingerprint: Buffer.from(r.fingerprintHex, 'hex') })),
      ),
    );
    expect(marked).toBe(DIRS.length - 1);
    // PostgreSQL: the page is one statement (plus the unit of work's BEGIN and COMMIT).
    if (before !== undefined) expect(opened.statements!() - before).toBe(3);
    // A fingerprint that is not the stored one marks nothing.
    const wrong = await port.unitOfWork(() =>
      t.markUnchanged([{ dirId: rows[0]!.dirId, fingerprint: fpOf('/', 7) }]),
    );
    expect(wrong).toBe(0);
  });
});
