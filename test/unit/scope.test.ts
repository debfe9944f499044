/**
 * Scope semantics without a CLI: which catalogued directories a scope selects (byte ranges on a
 * real catalog, never patterns), and what the planner does with paths outside it — checked
 * against a brute-force model on random groups.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import type { Member } from '../../src/catalog/groups.js';
import { openCatalog } from '../../src/catalog/open.js';
import { prepareScopeDirs } from '../../src/catalog/scope.js';
import { planLinkOnlyInode, planSameDeviceGroup } from '../../src/conductor/keep.js';
import { isUnder } from '../../src/paths.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { memberFactory } from '../helpers/members.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

describe('prepareScopeDirs', () => {
  it('selects a directory and everything below it, by bytes: not siblings sharing its prefix', () => {
    const d = tempDir();
    dirs.push(d);
    const { db } = openCatalog(join(d, 'c.db'));
    try {
      db.prepare(
        `INSERT INTO devices (id, identity, identity_stable, alias, fs_type, st_dev, mount_point, mount_root, first_seen_at, last_seen_at)
         VALUES (1, 'a', 1, 'a', 'tmpfs', 1, X'2f', X'2f', 0, 0), (2, 'b', 1, 'b', 'tmpfs', 2, X'2f', X'2f', 0, 0)`,
      ).run();
      const names = [
        '/',
        '/a',
        '/a/b',
        '/a/b/c',
        '/a/b/c/d',
        '/a/b.x', // '.' sorts before '/'
        '/a/b0', // '0' is the byte after '/'
        '/a/b-c',
        '/a/bc',
        '/a/b%',
        '/a/b_',
      ].map((s) => Buffer.from(s));
      names.push(Buffer.from([0x2f, 0x61, 0x2f, 0x62, 0xff])); // '/a/b' + 0xff
      names.push(Buffer.concat([Buffer.from('/a/b/'), Buffer.from([0xe9, 0x0a])])); // below, odd bytes
      const ins = db.prepare(
        `INSERT INTO dirs (device_id, parent_id, path, status) VALUES (?, NULL, ?, 'active')`,
      );
      const ids = new Map<number, Buffer>();
      for (const dev of [1, 2]) {
        for (const n of names) ids.set(Number(ins.run(dev, n).lastInsertRowid), n);
      }
      const selected = (scope: { deviceId: number; fsPath: Buffer }[]) => {
        prepareScopeDirs(db, scope);
        return (db.prepare('SELECT id FROM temp.scope_dirs ORDER BY id').all() as { id: number }[])
          .map((r) => r.id)
          .sort((a, b) => a - b);
      };
      const model = (scope: { deviceId: number; fsPath: Buffer }[]) =>
        [...ids.entries()]
          .filter(([id, p]) =>
            scope.some((s) => (id <= names.length ? 1 : 2) === s.deviceId && isUnder(p, s.fsPath)),
          )
          .map(([id]) => id)
          .sort((a, b) => a - b);
      for (const scope of [
        [{ deviceId: 1, fsPath: Buffer.from('/a/b') }],
        [{ deviceId: 2, fsPath: Buffer.from('/a/b') }],
        [{ deviceId: 1, fsPath: Buffer.from('/') }],
        [
          { deviceId: 1, fsPath: Buffer.from('/a/b/c') },
          { deviceId: 2, fsPath: Buffer.from('/a/b0') },
        ],
        [{ deviceId: 1, fsPath: Buffer.from('/a/b_') }],
      ]) {
        expect(selected(scope)).toEqual(model(scope));
      }
      expect(
        selected([{ deviceId: 1, fsPath: Buffer.from('/a/b') }]).map((i) =>
          ids.get(i)!.toString('latin1'),
        ),
      ).toEqual(['/a/b', '/a/b/c', '/a/b/c/d', '/a/b/\xe9\n']);
    } finally {
      db.close();
    }
  });
});

const make = memberFactory();
const member = (path: string, inode: number, nlink: number): Member => make(path, inode, { nlink });

describe('the planner with a scope', () => {
  const inScope = (m: Member) => m.path.toString().startsWith('/in/');

  it('never lists, keeps or replaces a path outside; an inode with a link outside is SKIP partly out of scope', () => {
    const members = [
      member('/in/a', 1, 1),
      member('/in/b', 2, 2),
      member('/out/b', 2, 2),
      member('/in/c', 3, 2),
      member('/out/c', 3, 2),
      member('/in/d', 4, 1),
      member('/out/e', 5, 1),
    ];
    const actions = planSameDeviceGroup(members, [{ kind: 'path' }], { inScope });
    expect(actions.every((a) => inScope(a.source) && inScope(a.target))).toBe(true);
    const by = (p: string) => actions.find((a) => a.target.path.toString() === p);
    expect(actions[0]!.source.path.toString()).toBe('/in/a');
    expect(by('/in/d')!.type).toBe('HARDLINK');
    expect(by('/in/b')!.reason).toMatch(/^partly out of scope: 1 other link/);
    expect(by('/in/c')!.type).toBe('SKIP');
    expect(actions.reduce((n, a) => n + a.bytes, 0)).toBe(100);
    // most-linked keeps an inode that cannot be freed anyway, so the others go.
    const ml = planSameDeviceGroup(members, [{ kind: 'most-linked' }], { inScope });
    expect(ml[0]!.source.path.toString()).toBe('/in/b');
    expect(ml.filter((a) => a.type === 'HARDLINK').map((a) => a.target.path.toString())).toEqual([
      '/in/a',
      '/in/d',
    ]);
    // Already-linked paths: NOOP only for two or more paths inside.
    expect(
      planLinkOnlyInode([member('/in/x', 9, 2), member('/out/x', 9, 2)], undefined, { inScope }),
    ).toEqual([]);
    expect(
      planLinkOnlyInode(
        [member('/in/x', 9, 3), member('/in/y', 9, 3), member('/out/x', 9, 3)],
        undefined,
        { inScope },
      ).map((a) => a.type),
    ).toEqual(['NOOP']);
  });

  it('frees exactly the inodes wholly inside the scope, but one (random groups)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.integer({ min: 0, max: 1 })),
          {
            minLength: 2,
            maxLength: 14,
          },
        ),
        (spec) => {
          // Each entry: a path of inode N, inside or outside, plus links outside the catalog.
          const extra = new Map<number, number>();
          for (const [ino, , x] of spec) extra.set(ino, Math.max(extra.get(ino) ?? 0, x));
          const count = new Map<number, number>();
          for (const [ino] of spec) count.set(ino, (count.get(ino) ?? 0) + 1);
          const members = spec.map(([ino, inside], i) =>
            member(`/${inside ? 'in' : 'out'}/p${i}`, ino, count.get(ino)! + extra.get(ino)!),
          );
          const actions = planSameDeviceGroup(members, [{ kind: 'most-linked' }], { inScope });
          for (const a of actions) {
            expect(inScope(a.target)).toBe(true);
            expect(inScope(a.source)).toBe(true);
          }
          const inodes = [...count.keys()];
          const touched = inodes.filter((i) =>
            members.some((m) => m.inode === BigInt(i) && inScope(m)),
          );
          const free = touched.filter(
            (i) => extra.get(i) === 0 && members.every((m) => m.inode !== BigInt(i) || inScope(m)),
          );
          // One inode is kept: a held one if any is in the scope, else one of the free ones.
          const expected =
            touched.length < 2 ? 0 : touched.length > free.length ? free.length : free.length - 1;
          expect(actions.reduce((n, a) => n + a.bytes, 0)).toBe(expected * 100);
        },
      ),
      { numRuns: 500 },
    );
  });
});
