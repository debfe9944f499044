/**
 * The frame every scan-port suite shares: the suite runs once per backend (./scan-backends.ts),
 * is skipped with the reason where a backend cannot run, and each test gets a fresh catalog
 * with one test device whose files live under `top`.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest';
import type { PgScanCatalog } from '../../src/catalog/pg/scan.js';
import type {
  DeviceRow,
  ListedFile,
  ListingInput,
  MergedListing,
  NewFileRow,
  ScanTree,
} from '../../src/catalog/scan-port.js';
import { removeTree, tempDir, writeTree } from './fs.js';
import { pgBackend, sqliteBackend, type Backend, type Opened } from './scan-backends.js';

/** The scan owner the port records (this process). */
export const OWNER = { pid: process.pid, startTime: '0' };

/** `body` once per backend (`$name` in `title` names it), the cluster started and stopped around it. */
export function describeOnScanBackends(title: string, body: (backend: Backend) => void): void {
  describe.each([sqliteBackend, pgBackend])(title, (backend) => {
    if (backend.unavailable) {
      it.skip(`skipped: ${backend.unavailable}`, () => undefined);
      return;
    }
    beforeAll(() => backend.setup(), 120_000);
    afterAll(() => backend.teardown());
    body(backend);
  });
}

export interface ScanCatalogFixture {
  /** The test's temporary directory (the catalog's, for SQLite). */
  readonly dir: string;
  /** `dir`/tree: the files the test lists. */
  readonly top: string;
  readonly opened: Opened;
  readonly port: PgScanCatalog;
  readonly device: DeviceRow;
}

/**
 * Before each test: a fresh catalog on `backend` and a registered test device (identity
 * `test:NAME`) mounted at `mount` below the test's directory (default the tree itself); after
 * it, the catalog closed and the directory removed. Read the fields inside tests and hooks.
 */
export function scanCatalogFixture(
  backend: Backend,
  o: {
    readonly name: string;
    readonly stDev?: bigint;
    readonly mount?: string;
    readonly files?: Record<string, string>;
  },
): ScanCatalogFixture {
  let state: ScanCatalogFixture | undefined;
  beforeEach(async () => {
    const dir = realpathSync(tempDir(`hashall-${o.name}-`));
    const top = join(dir, 'tree');
    mkdirSync(top);
    if (o.files) writeTree(top, o.files);
    const opened = await backend.open(dir);
    const device = await opened.port.devices.register({
      identity: `test:${o.name}`,
      stable: true,
      fsType: 'test',
      stDev: o.stDev ?? 7n,
      mountPoint: Buffer.from(join(dir, o.mount ?? 'tree')),
      mountRoot: Buffer.from('/'),
    });
    state = { dir, top, opened, port: opened.port, device };
  });
  afterEach(async () => {
    await state?.opened.close();
    if (state) removeTree(state.dir);
    state = undefined;
  });
  const get = (): ScanCatalogFixture => {
    if (!state) throw new Error('the scan catalog fixture is read outside a test');
    return state;
  };
  return {
    get dir() {
      return get().dir;
    },
    get top() {
      return get().top;
    },
    get opened() {
      return get().opened;
    },
    get port() {
      return get().port;
    },
    get device() {
      return get().device;
    },
  };
}

/** A new scan record with `top` as its root, and its tree. */
export async function openScan(port: PgScanCatalog, top: string): Promise<ScanTree> {
  return port.tree.open(await port.scans.start({ root: Buffer.from(top), owner: OWNER }));
}

/**
 * Merge a listing and insert its new files (none hashed), as the walk does; inside the
 * caller's unit of work or batch, if any.
 */
export async function mergeAndInsert(t: ScanTree, l: ListingInput): Promise<MergedListing> {
  const m = await t.mergeListing(l);
  await t.insertFiles(newRows(l.deviceId, m.dirId, m.fresh));
  return m;
}

/** Rows for files of directory `dirId` (none hashed), as insertFiles takes them. */
export function newRows(
  deviceId: number,
  dirId: number,
  files: readonly Pick<ListedFile, 'name' | 'meta'>[],
): NewFileRow[] {
  return files.map((f) => ({ deviceId, dirId, name: f.name, meta: f.meta, hashes: undefined }));
}
