/**
 * Listing fingerprints through the scan port, on each backend (SQLite, and PostgreSQL in a
 * throwaway cluster; test/helpers/scan-backends.ts): a directory whose row holds the listing's
 * fingerprint is merged without its rows, and only once the scan that stored it finished.
 * The probe: a listing that claims a stored fingerprint but names one more file — trusted, the
 * file is not handed back as new; not trusted, it is.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, expect, it } from 'vitest';
import type { PgScanCatalog } from '../../src/catalog/pg/scan.js';
import type { DeviceRow, ListedFile, ScanTree } from '../../src/catalog/scan-port.js';
import { toMeta } from '../../src/scan/walker.js';
import type { Opened } from '../helpers/scan-backends.js';
import {
  describeOnScanBackends,
  mergeAndInsert,
  openScan,
  scanCatalogFixture,
} from '../helpers/scan-port-suite.js';

const FP_A = Buffer.alloc(32, 0xa1);
const FP_B = Buffer.alloc(32, 0xb2);

describeOnScanBackends('listing fingerprints on $name', (backend) => {
  const f = scanCatalogFixture(backend, {
    name: 'fingerprints',
    stDev: 9n,
    files: { 'a.txt': 'a', 'x.txt': 'x, a size of its own' },
  });
  let top: string;
  let opened: Opened;
  let port: PgScanCatalog;
  let device: DeviceRow;
  beforeEach(() => {
    ({ top, opened, port, device } = f);
  });

  const listed = (names: readonly string[]): ListedFile[] =>
    names.map((n) => ({
      name: Buffer.from(n),
      meta: toMeta(lstatSync(join(top, n), { bigint: true })),
    }));

  /** Merge the root directory with `files` and `fingerprint`, inserting what is new. */
  async function merge(t: ScanTree, files: readonly string[], fingerprint: Buffer) {
    return port.unitOfWork(() =>
      mergeAndInsert(t, {
        deviceId: device.id,
        fsPath: Buffer.from('/'),
        parentDirId: undefined,
        files: listed(files),
        subdirs: [],
        kept: [],
        moves: 'probe',
        fingerprint,
      }),
    );
  }

  const newScan = () => openScan(port, top);
  const finish = async (t: ScanTree) => port.unitOfWork(() => t.applyDeletions());
  const active = async () =>
    [...(await opened.rows())]
      .filter(([, r]) => r.status === 'active')
      .map(([n]) => n)
      .sort();

  it('a finished scan’s fingerprint is trusted; one merged by a scan that did not finish is not', async () => {
    // First scan: stores FP_A for the listing {a.txt}.
    let t = await newScan();
    expect((await merge(t, ['a.txt'], FP_A)).fresh).toHaveLength(1);
    await finish(t);

    // Same fingerprint: the rows are not read — the extra name is not handed back as new.
    t = await newScan();
    const trusted = await merge(t, ['a.txt', 'x.txt'], FP_A);
    expect(trusted.fresh).toHaveLength(0);
    expect(trusted.counts).toEqual({ new: 0, changed: 0, unchanged: 2 });
    await finish(t);

    // A scan that catalogues x.txt under another fingerprint, then is interrupted.
    t = await newScan();
    const killed = await merge(t, ['a.txt', 'x.txt'], FP_B);
    expect(killed.fresh.map((f) => f.name.toString())).toEqual(['x.txt']);
    await port.unitOfWork(() => t.discardParked());
    expect(await active()).toEqual(['a.txt', 'x.txt']);

    // The listing is FP_A's again, but the rows are no longer FP_A's: they are compared, and
    // x.txt's row is parked and deleted when the scan finishes.
    t = await newScan();
    const compared = await merge(t, ['a.txt'], FP_A);
    expect(compared.counts).toEqual({ new: 0, changed: 0, unchanged: 1 });
    expect(await finish(t)).toEqual({ deleted: 1, moved: 0 });
    expect(await active()).toEqual(['a.txt']);

    // That finished scan stored FP_A anew: trusted again.
    t = await newScan();
    expect((await merge(t, ['a.txt', 'x.txt'], FP_A)).fresh).toHaveLength(0);
    await finish(t);
  });
});
