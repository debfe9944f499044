/**
 * Stored group totals and device usage (src/catalog/group-totals.ts, usage-totals.ts): after
 * any sequence of real changes made through the real CLI (new duplicates, content changes,
 * deletions, hardlinks, mode changes, rescans, executed plans, undos, a killed scan), the
 * stored figures — read-only with dirty keys regrouped, and after a writer's fold — equal a
 * grouping of every row. Analyze says how it obtained the groups.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  chmodSync,
  copyFileSync,
  linkSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openCatalog } from '../../src/catalog/open.js';
import { MIGRATIONS } from '../../src/catalog/migrations.js';
import { prepareSameDeviceGroups, sameGroupPage, type GroupKey } from '../../src/catalog/groups.js';
import { deviceUsage, listDevices } from '../../src/catalog/devices.js';
import { storedDeviceUsage } from '../../src/catalog/usage-totals.js';
import type { DB } from '../../src/catalog/db.js';
import { queryOps } from '../../src/catalog/query-port.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { foldPgStoredTotals } from '../../src/catalog/pg/stored-totals.js';
import { expectDupesExact, expectExactPg } from '../helpers/stored-totals.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';
import { hashall } from '../helpers/cli.js';
import { killAt } from '../helpers/kill-at.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

/** Contents of equal size (so they are hashed and may group) and one of another size. */
const CONTENTS = ['alpha'.repeat(400), 'bravo'.repeat(400), 'charl'.repeat(400), 'x'.repeat(3000)];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeTree(d);
});

/**
 * `allowed`: exit codes that are not a failure of the test (an execute of a plan made without
 * a rescan after a file was rewritten fails that action as stale, exit 1, by design).
 */
function run(
  args: string[],
  cat: string,
  allowed: readonly number[] = [0],
): Record<string, unknown> {
  const r = hashall([...args, '--catalog', cat, '--json']);
  if (!allowed.includes(r.code ?? -1)) {
    throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }
  return r.json();
}

/** A new tree of `files` in a temporary directory, scanned into a new catalog there. */
function scannedTree(files: Record<string, string>): { tree: string; cat: string } {
  const dir = tempDir();
  dirs.push(dir);
  const tree = join(dir, 'tree');
  const cat = join(dir, 'catalog.db');
  writeTree(tree, files);
  run(['scan', tree], cat);
  return { tree, cat };
}

/**
 * A new tree in a temporary directory (not scanned): `folders` folders of `perDir` files, whose
 * contents cycle through CONTENTS (so most are hashed and many group); its catalog's path.
 */
function gridTree(folders: number, perDir: number): { tree: string; cat: string } {
  const dir = tempDir();
  dirs.push(dir);
  const tree = join(dir, 'tree');
  const files: Record<string, string> = {};
  for (let d = 0; d < folders; d++)
    for (let f = 0; f < perDir; f++) files[`d${d}/f${f}`] = CONTENTS[(d + f) % CONTENTS.length]!;
  writeTree(tree, files);
  return { tree, cat: join(dir, 'catalog.db') };
}

interface Grouping {
  readonly totals: { groups: number; saveable: number; pinnedInodes: number };
  readonly rows: GroupKey[];
  readonly source: string;
}

function grouping(db: DB, from: 'stored-totals' | 'rows', deviceId?: number): Grouping {
  const { source, ...totals } = prepareSameDeviceGroups(db, deviceId, false, from);
  const rows: GroupKey[] = [];
  for (let after = 0; ;) {
    const page = sameGroupPage(db, after, 7);
    if (page.length === 0) break;
    rows.push(...page);
    after = page[page.length - 1]!.rowId;
  }
  return { totals, rows, source: source.kind };
}

/** Stored figures equal every row's grouping, for all devices and each device. */
function expectExact(db: DB): void {
  for (const deviceId of [undefined, ...listDevices(db).map((d) => d.id)]) {
    const stored = grouping(db, 'stored-totals', deviceId);
    const rows = grouping(db, 'rows', deviceId);
    expect(stored.rows).toEqual(rows.rows);
    expect(stored.totals).toEqual(rows.totals);
  }
  expect(storedDeviceUsage(db)).toEqual(deviceUsage(db));
}

/** Read-only first (dirty keys regrouped, nothing written), then writable (folded). */
async function expectExactBothWays(cat: string): Promise<void> {
  const reader = openCatalog(cat, { readonly: true });
  try {
    expectExact(reader.db);
    await expectDupesExact(queryOps(reader.db).dupes);
  } finally {
    reader.db.close();
  }
  const writer = openCatalog(cat);
  try {
    expectExact(writer.db);
    const dirty = writer.db
      .prepare(
        'SELECT (SELECT count(*) FROM group_dirty) + (SELECT count(*) FROM usage_dirty) AS n',
      )
      .get() as { n: number };
    expect(dirty.n).toBe(0);
  } finally {
    writer.db.close();
  }
}

/** PostgreSQL: as read (dirty keys regrouped), then after a fold (nothing left dirty). */
async function expectExactBothWaysPg(url: string): Promise<void> {
  const { client } = await connectPg(url);
  try {
    await expectExactPg(client);
    expect(await foldPgStoredTotals(client)).toMatchObject({ kind: 'folded' });
    await expectExactPg(client);
    const dirty = await client.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM group_dirty) + (SELECT count(*) FROM usage_dirty) AS n',
    );
    expect(Number(dirty.rows[0]!.n)).toBe(0);
  } finally {
    await client.end();
  }
}

/** Where the property runs: the catalog the CLI is given, and how exactness is checked. */
interface TotalsBackend {
  readonly name: string;
  readonly unavailable: string | undefined;
  setup(): Promise<void>;
  teardown(): void;
  /** A fresh, empty catalog (the CLI's --catalog) in `dir`. */
  catalog(dir: string): Promise<string>;
  expectExactBothWays(cat: string): Promise<void>;
}

const BACKENDS: readonly TotalsBackend[] = [
  {
    name: 'SQLite',
    unavailable: undefined,
    setup: async () => undefined,
    teardown: () => undefined,
    catalog: async (dir) => join(dir, 'catalog.db'),
    expectExactBothWays,
  },
  {
    name: 'PostgreSQL',
    unavailable: pgBackend.unavailable,
    setup: () => pgBackend.setup(),
    teardown: () => pgBackend.teardown(),
    catalog: async () => pgTestCluster().url(await pgTestCluster().createDatabase()),
    expectExactBothWays: expectExactBothWaysPg,
  },
];

type Op =
  | { kind: 'copy'; file: number }
  | { kind: 'write'; file: number; content: number }
  | { kind: 'delete'; file: number }
  | { kind: 'link'; file: number }
  | { kind: 'chmod'; file: number }
  | { kind: 'scan' }
  | { kind: 'execute' }
  | { kind: 'undo' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('copy' as const), file: fc.nat() }),
  fc.record({
    kind: fc.constant('write' as const),
    file: fc.nat(),
    content: fc.nat({ max: CONTENTS.length - 1 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), file: fc.nat() }),
  fc.record({ kind: fc.constant('link' as const), file: fc.nat() }),
  fc.record({ kind: fc.constant('chmod' as const), file: fc.nat() }),
  fc.constant({ kind: 'scan' as const }),
  fc.constant({ kind: 'execute' as const }),
  fc.constant({ kind: 'undo' as const }),
);

function filesOf(tree: string): string[] {
  return readdirSync(tree, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe.each(BACKENDS)('stored group totals and device usage on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());

  it('equal a full regrouping after random sequences of changes, scans, executes and undos', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 3, maxLength: 7 }), async (ops) => {
        const dir = tempDir();
        dirs.push(dir);
        const tree = join(dir, 'tree');
        const cat = await backend.catalog(dir);
        writeTree(tree, {
          'a/1': CONTENTS[0]!,
          'a/2': CONTENTS[0]!,
          'b/3': CONTENTS[1]!,
          'b/4': CONTENTS[1]!,
          'b/5': CONTENTS[2]!,
          'c/6': CONTENTS[3]!,
        });
        linkSync(join(tree, 'a/1'), join(tree, 'c/1-link'));
        run(['scan', tree], cat);
        await backend.expectExactBothWays(cat);
        let n = 0;
        const executed: number[] = [];
        for (const op of ops) {
          const files = filesOf(tree);
          const pick = (i: number) => files[i % files.length]!;
          switch (op.kind) {
            case 'copy':
              if (files.length) copyFileSync(pick(op.file), join(tree, 'a', `copy${n++}`));
              continue;
            case 'write':
              if (files.length) writeFileSync(pick(op.file), CONTENTS[op.content]!);
              continue;
            case 'delete':
              if (files.length) unlinkSync(pick(op.file));
              continue;
            case 'link':
              if (files.length) linkSync(pick(op.file), join(tree, 'b', `link${n++}`));
              continue;
            case 'chmod':
              if (files.length) chmodSync(pick(op.file), 0o600);
              continue;
            case 'scan':
              run(['scan', tree], cat);
              break;
            case 'execute': {
              const plan = run(['conductor', 'plan', `p${n++}`], cat) as { id: number };
              run(['conductor', 'execute', String(plan.id), '--force'], cat, [0, 1]);
              executed.push(plan.id);
              break;
            }
            case 'undo': {
              const id = executed.pop();
              if (id === undefined) continue;
              run(['conductor', 'undo', String(id), '--force'], cat, [0, 1]);
              break;
            }
          }
          await backend.expectExactBothWays(cat);
        }
      }),
      { numRuns: 8 },
    );
  }, 900_000);
});

describe('stored group totals and device usage', () => {
  it('analyze says how it got the groups: cached after an unchanged rescan, N keys after execute', () => {
    const { tree, cat } = scannedTree({
      'a/1': CONTENTS[0]!,
      'a/2': CONTENTS[0]!,
      'b/3': CONTENTS[1]!,
      'b/4': CONTENTS[1]!,
      'b/5': CONTENTS[2]!,
    });
    type A = { same_device: { groups: number; bytes_saveable: number; source: unknown } };
    const first = run(['conductor', 'analyze'], cat) as A;
    expect(first.same_device.source).toEqual({ kind: 'cached' });
    expect(first.same_device.groups).toBe(2);
    expect(first.same_device.bytes_saveable).toBe(4000);

    run(['scan', tree], cat);
    expect((run(['conductor', 'analyze'], cat) as A).same_device).toEqual(first.same_device);

    // Execute writes rows and does not fold: the next analyze regroups exactly the two keys.
    const plan = run(['conductor', 'plan', 'p'], cat) as { id: number };
    run(['conductor', 'execute', String(plan.id), '--force'], cat);
    const after = run(['conductor', 'analyze'], cat) as A;
    expect(after.same_device).toEqual({
      ...after.same_device,
      groups: 0,
      bytes_saveable: 0,
      source: { kind: 'updated', keys: 2 },
    });
    // Reading changes nothing: still two dirty keys until a writer folds them.
    expect((run(['conductor', 'analyze'], cat) as A).same_device.source).toEqual({
      kind: 'updated',
      keys: 2,
    });
    run(['scan', tree], cat);
    expect((run(['conductor', 'analyze'], cat) as A).same_device.source).toEqual({
      kind: 'cached',
    });
    // A scope groups the rows below it.
    const scoped = run(['conductor', 'analyze', join(tree, 'a')], cat) as A;
    expect(scoped.same_device.source).toEqual({ kind: 'regrouped' });
  });

  it('a scan killed after committing hashes leaves dirty keys that readers regroup exactly', async () => {
    const { tree, cat } = scannedTree({ 'a/1': CONTENTS[0]!, 'a/2': CONTENTS[1]! });
    writeTree(tree, { 'b/1': CONTENTS[0]!, 'b/2': CONTENTS[1]!, 'b/3': CONTENTS[2]! });
    killAt(['scan', tree, '--catalog', cat, '-q'], { point: 'scan-hash-write' });
    const a = run(['conductor', 'analyze'], cat) as {
      same_device: { source: { kind: string; keys?: number } };
    };
    expect(a.same_device.source.kind).toBe('updated');
    expect(a.same_device.source.keys).toBeGreaterThan(0);
    await expectExactBothWays(cat);
  });

  it('a device listed as dirty in whole (as a catalog copied from PostgreSQL may hold) is regrouped by readers and rebuilt by a fold', async () => {
    const { cat } = scannedTree({
      'a/1': CONTENTS[0]!,
      'a/2': CONTENTS[0]!,
      'b/1': CONTENTS[1]!,
      'b/2': CONTENTS[1]!,
    });
    const before = run(['conductor', 'analyze'], cat) as { same_device: unknown };
    // The device's stored groups are gone, none of its keys is marked: only the device's row
    // says they must be regrouped (a PostgreSQL first scan that has not folded leaves that).
    const db = new Database(cat);
    try {
      db.exec(`DELETE FROM group_totals;
               INSERT INTO group_dirty_devices (device_id) SELECT id FROM devices;`);
    } finally {
      db.close();
    }
    const a = run(['conductor', 'analyze'], cat) as {
      same_device: { groups: number; source: { kind: string; keys?: number; devices?: number } };
    };
    expect(a.same_device.source).toEqual({ kind: 'updated', keys: 0, devices: 1 });
    expect({ ...a.same_device, source: undefined }).toEqual({
      ...(before.same_device as object),
      source: undefined,
    });
    await expectExactBothWays(cat);
    const after = new Database(cat, { readonly: true });
    try {
      expect(after.prepare('SELECT count(*) AS n FROM group_dirty_devices').get()).toEqual({
        n: 0,
      });
    } finally {
      after.close();
    }
  });

  it('a first scan claims its device: no key marked one by one, readers regroup it exactly, its fold clears the claim', async () => {
    const { tree, cat } = gridTree(12, 6);
    // Killed right after the first commit that wrote hashes (so rows the triggers would have
    // marked are there): every row so far was written under the claim. Not a later one: under
    // load the workers may answer only at the walk's end, and this small tree then makes one.
    killAt(['scan', tree, '--catalog', cat, '-q'], {
      point: 'scan-hash-write',
      after: 0,
      env: { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
    });
    const count = (sql: string): number => {
      const db = new Database(cat, { readonly: true });
      try {
        return (db.prepare(sql).get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    expect(
      count('SELECT count(*) AS n FROM files WHERE sha256 IS NOT NULL'),
      'rows the triggers would have marked',
    ).toBeGreaterThan(0);
    expect(count('SELECT count(*) AS n FROM group_dirty')).toBe(0);
    expect(count('SELECT count(*) AS n FROM group_dirty_devices')).toBe(1);
    expect(count('SELECT count(*) AS n FROM group_totals')).toBe(0);
    const killed = run(['conductor', 'analyze'], cat) as {
      same_device: { groups: number; source: unknown };
    };
    expect(killed.same_device.source).toEqual({ kind: 'updated', keys: 0, devices: 1 });
    await expectExactBothWays(cat);
    expect(count('SELECT count(*) AS n FROM group_dirty_devices')).toBe(0);
    // The device has rows now: the next scan claims nothing, and ends with nothing dirty.
    run(['scan', tree], cat);
    expect(count('SELECT count(*) AS n FROM group_dirty_devices')).toBe(0);
    const done = run(['conductor', 'analyze'], cat) as {
      same_device: { groups: number; source: unknown };
    };
    expect(done.same_device.source).toEqual({ kind: 'cached' });
    expect(done.same_device.groups).toBeGreaterThanOrEqual(killed.same_device.groups);
    await expectExactBothWays(cat);
  });

  it("a claimed device's changes mark no key; an unclaimed device's do", async () => {
    const { cat } = scannedTree({
      'a/1': CONTENTS[0]!,
      'a/2': CONTENTS[0]!,
      'b/1': CONTENTS[1]!,
      'b/2': CONTENTS[1]!,
      'c/1': CONTENTS[2]!,
      'c/2': CONTENTS[2]!,
    });
    const db = new Database(cat);
    try {
      const dirty = () =>
        (db.prepare('SELECT count(*) AS n FROM group_dirty').get() as { n: number }).n;
      const ids = (
        db.prepare('SELECT id FROM files WHERE sha256 IS NOT NULL ORDER BY id').all() as {
          id: number;
        }[]
      ).map((r) => r.id);
      expect(ids).toHaveLength(6);
      expect(dirty()).toBe(0);
      // The scan completed: no claim, so a change marks its key.
      db.prepare('UPDATE files SET mode = mode + 1 WHERE id = ?').run(ids[0]);
      expect(dirty()).toBe(1);
      db.exec(
        'DELETE FROM group_dirty; INSERT INTO group_dirty_devices (device_id) SELECT id FROM devices;',
      );
      // Claimed: an update, a delete and an insert mark nothing.
      db.prepare('UPDATE files SET mode = mode + 1 WHERE id = ?').run(ids[2]);
      db.prepare('DELETE FROM files WHERE id = ?').run(ids[4]);
      db.exec(`INSERT INTO files (device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns,
                                  mode, uid, gid, prefix_hash, sha256, status, first_seen_scan,
                                  changed_scan)
               SELECT device_id, dir_id, CAST('copy' AS BLOB), inode + 1000000, 1, size, mtime_ns,
                      ctime_ns, mode, uid, gid, prefix_hash, sha256, 'active', first_seen_scan,
                      changed_scan
                 FROM files WHERE id = ${Number(ids[1])}`);
      expect(dirty()).toBe(0);
    } finally {
      db.close();
    }
    // Readers regroup the claimed device whole; a fold rebuilds it and removes the claim.
    const a = run(['conductor', 'analyze'], cat) as { same_device: { source: unknown } };
    expect(a.same_device.source).toEqual({ kind: 'updated', keys: 0, devices: 1 });
    await expectExactBothWays(cat);
  });

  it('a catalog made before the stored totals gets them built when opened', async () => {
    const { cat } = scannedTree({
      'a/1': CONTENTS[0]!,
      'a/2': CONTENTS[0]!,
      'a/3': CONTENTS[0]!,
      'b/4': CONTENTS[1]!,
      'b/5': CONTENTS[1]!,
    });
    const before = run(['conductor', 'analyze'], cat);
    const devicesBefore = run(['devices'], cat);
    // Back to the schema before the stored totals: their tables and triggers gone.
    const db = new Database(cat);
    const ours = MIGRATIONS.findIndex(
      (m) => typeof m === 'string' && m.includes('CREATE TABLE IF NOT EXISTS group_totals'),
    );
    expect(ours).toBeGreaterThan(0);
    for (const t of ['group', 'usage'])
      for (const op of ['insert', 'delete', 'update']) db.exec(`DROP TRIGGER files_${t}_${op}`);
    db.exec(`DROP TABLE group_totals; DROP TABLE group_dirty;
             DROP TABLE usage_totals; DROP TABLE usage_dirty;`);
    db.pragma(`user_version = ${ours}`);
    db.close();
    // The read-only command migrates first; it reports what it did before, from stored totals.
    expect(run(['conductor', 'analyze'], cat)).toEqual(before);
    expect(run(['devices'], cat)).toEqual(devicesBefore);
    await expectExactBothWays(cat);
  });
});

describe("a first scan's device usage, counted beside its group fold", () => {
  // The built module (dist/): it starts the worker from its own place, which src/ lacks.
  type Fold = { kind: 'aside' } | { kind: 'inline'; why: string };
  const foldAfterScan = async (
    db: DB,
    finished: { scanId: number; finishedAt: number },
  ): Promise<Fold> => {
    const m = (await import(
      new URL('../../dist/catalog/stored-totals.js', import.meta.url).href
    )) as {
      foldStoredTotalsAfterScan: (
        d: DB,
        f: { scanId: number; finishedAt: number },
      ) => Promise<Fold>;
    };
    return m.foldStoredTotalsAfterScan(db, finished);
  };

  /**
   * A catalog a first scan left before its fold (killed in it), with hard links, so
   * that paths and distinct inodes differ; its scan then marked finished at `finishedAt`.
   */
  function unfoldedFirstScan(finishedAt: number): { cat: string; scanId: number } {
    const { tree, cat } = gridTree(12, 6);
    for (let d = 0; d < 12; d++) linkSync(join(tree, `d${d}/f0`), join(tree, `d${d}/link`));
    // Killed with its fold written and not committed: every row is in, none of it folded.
    killAt(['scan', tree, '--catalog', cat, '-q'], { point: 'scan-fold-aside' });
    const db = new Database(cat);
    try {
      const { id } = db.prepare('SELECT max(id) AS id FROM scans').get() as { id: number };
      db.prepare(`UPDATE scans SET status = 'completed', finished_at = ? WHERE id = ?`).run(
        finishedAt,
        id,
      );
      const dirty = (t: string) =>
        (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      expect(dirty('usage_dirty'), 'the killed scan left its usage to fold').toBe(1);
      expect(dirty('group_dirty_devices'), 'and its device claimed').toBe(1);
      return { cat, scanId: id };
    } finally {
      db.close();
    }
  }

  const leftDirty = (db: DB) =>
    db
      .prepare(
        `SELECT (SELECT count(*) FROM usage_dirty) + (SELECT count(*) FROM group_dirty)
              + (SELECT count(*) FROM group_dirty_devices) AS n`,
      )
      .get() as { n: number };

  it('a worker counts it on its own connection: the same figures as one connection counts', async () => {
    const { cat, scanId } = unfoldedFirstScan(1234);
    const c = openCatalog(cat);
    try {
      const live = deviceUsage(c.db);
      const [usage] = [...live.values()];
      expect(usage!.inodes, 'hard links: fewer inodes than paths').toBeLessThan(usage!.files);
      expect(await foldAfterScan(c.db, { scanId, finishedAt: 1234 })).toEqual({ kind: 'aside' });
      expect(leftDirty(c.db)).toEqual({ n: 0 });
      expect(c.db.inTransaction).toBe(false);
      expectExact(c.db);
      expect(storedDeviceUsage(c.db)).toEqual(live);
    } finally {
      c.db.close();
    }
  });

  /** Ways the worker's count is not used: the scan's connection counts, exactly. */
  const fallbacks: readonly {
    readonly name: string;
    /** What the fold is told the scan's finished_at is (the catalog says 1234). */
    readonly finishedAt: number;
    readonly before: (cat: string) => void;
    readonly why: RegExp;
  }[] = [
    {
      name: 'a worker whose snapshot does not show the scan just finished is not believed',
      finishedAt: 1235,
      before: () => undefined,
      why: /not the one just finished/,
    },
    {
      name: 'a worker that cannot open the catalog leaves the count to the scan’s connection',
      finishedAt: 1234,
      // The open connection keeps its file; the worker finds none by that name.
      before: (cat) => renameSync(cat, `${cat}.moved`),
      why: /unable to open/,
    },
  ];
  for (const f of fallbacks) {
    it(f.name, async () => {
      const { cat, scanId } = unfoldedFirstScan(1234);
      const c = openCatalog(cat);
      try {
        f.before(cat);
        const fold = await foldAfterScan(c.db, { scanId, finishedAt: f.finishedAt });
        expect(fold).toEqual({ kind: 'inline', why: expect.stringMatching(f.why) });
        expect(leftDirty(c.db)).toEqual({ n: 0 });
        expectExact(c.db);
      } finally {
        c.db.close();
      }
    });
  }

  it('the built CLI counts a first scan beside its groups (it says under --debug when not)', () => {
    const { tree, cat } = gridTree(3, 2);
    linkSync(join(tree, 'd0/f0'), join(tree, 'd0/link'));
    const first = hashall(['scan', tree, '--catalog', cat, '--debug']);
    expect(first.code).toBe(0);
    expect(first.stderr).not.toMatch(/device usage counted/);
    // A counted-aside fold is exact like the other: analyze's figures from the stored usage.
    const a = run(['conductor', 'analyze'], cat) as {
      devices: { files: number; inodes: number }[];
    };
    expect(a.devices[0]).toMatchObject({ files: 7, inodes: 6 });
  });
});

describe('a first scan killed in its fold', () => {
  it('folds nothing: readers recount exactly, and the next scan folds', async () => {
    const { tree, cat } = gridTree(8, 5);
    linkSync(join(tree, 'd0/f0'), join(tree, 'd0/link'));
    // After the worker's count and the group fold were written, before the commit.
    killAt(['scan', tree, '--catalog', cat, '-q'], { point: 'scan-fold-aside' });
    const db = new Database(cat, { readonly: true });
    try {
      const n = (t: string) =>
        (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      expect(n('usage_dirty'), 'the usage fold was not committed').toBe(1);
      expect(n('group_dirty_devices'), 'nor the group fold').toBe(1);
      expect(n('usage_totals')).toBe(0);
      expect(n('files')).toBe(41);
    } finally {
      db.close();
    }
    const killed = run(['conductor', 'analyze'], cat) as {
      devices: { files: number; inodes: number }[];
      same_device: { source: unknown };
    };
    expect(killed.devices[0]).toMatchObject({ files: 41, inodes: 40 });
    expect(killed.same_device.source).toEqual({ kind: 'updated', keys: 0, devices: 1 });
    await expectExactBothWays(cat);
    run(['scan', tree], cat);
    const after = run(['conductor', 'analyze'], cat) as { same_device: { source: unknown } };
    expect(after.same_device.source).toEqual({ kind: 'cached' });
    await expectExactBothWays(cat);
  });
});
