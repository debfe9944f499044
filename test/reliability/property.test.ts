/**
 * Property-based: random trees and random sequences of scan / modify / plan / execute, checked
 * against a model. Invariants after every sequence:
 *   - every path holds exactly the content the model says (hashall never changes content);
 *   - after a final scan the catalog equals a fresh scan of the same tree;
 *   - no HARDLINK action ever joins two filesystems;
 *   - analyze's savings equal a brute-force count: per filesystem and content,
 *     (distinct inodes − 1) × size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import {
  mountTmpfs,
  mountUnavailableReason,
  removeTree,
  tempDir,
  unmountAll,
} from '../helpers/fs.js';

const RUNS = Number(process.env.HASHALL_PROPERTY_RUNS ?? (process.env.CI ? 12 : 25));

// Two same-size contents that differ (a hashing trap), a bigger one, and an empty file.
const CONTENTS = [
  Buffer.alloc(5000, 'A'),
  Buffer.alloc(5000, 'B'),
  Buffer.alloc(9000, 'C'),
  Buffer.alloc(0),
];
const DIRS = ['d0', 'd1', 'mnt'];
const NAMES = ['f0', 'f1', 'f2', 'f3'];

type Op =
  | { kind: 'write'; path: string; content: number; keepMtime: boolean }
  | { kind: 'link'; from: string; to: string }
  | { kind: 'delete'; path: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'scan' }
  | { kind: 'plan-execute' };

const pathArb = fc
  .tuple(fc.constantFrom(...DIRS), fc.constantFrom(...NAMES))
  .map(([d, n]) => `${d}/${n}`);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      path: pathArb,
      content: fc.integer({ min: 0, max: 3 }),
      keepMtime: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('link' as const), from: pathArb, to: pathArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), path: pathArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('rename' as const), from: pathArb, to: pathArb }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'scan' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'plan-execute' as const }) },
);

describe('random operation sequences', () => {
  let dir: string;
  let mounted = false;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it(`hold every invariant (${RUNS} runs)`, { timeout: 900_000 }, () => {
    let runNo = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 3, maxLength: 14 }), (ops) => {
        const root = join(dir, `r${runNo++}`);
        mkdirSync(join(root, 'd0'), { recursive: true });
        mkdirSync(join(root, 'd1'));
        mkdirSync(join(root, 'mnt'));
        // A second filesystem when we may mount one: links must never cross it.
        if (!mountUnavailableReason()) {
          mountTmpfs(join(root, 'mnt'), 8);
          mounted = true;
        }
        const cat = join(root, '..', `r${runNo}.db`);
        const model = new Map<string, number>();
        const abs = (p: string) => join(root, p);
        const cli = (args: string[]) => hashall([...args, '--catalog', cat, '--json']);

        for (const op of ops) {
          switch (op.kind) {
            case 'write': {
              const p = abs(op.path);
              const old = existsSync(p) ? lstatSync(p) : undefined;
              writeFileSync(p, CONTENTS[op.content]!);
              // Like cp -a: the old mtime comes back, only ctime tells.
              if (old && op.keepMtime) utimesSync(p, old.atime, old.mtime);
              // Writing in place changes every hardlinked name of the inode.
              for (const [q] of model)
                if (
                  q !== op.path &&
                  existsSync(abs(q)) &&
                  lstatSync(abs(q)).ino === lstatSync(p).ino &&
                  lstatSync(abs(q)).dev === lstatSync(p).dev
                )
                  model.set(q, op.content);
              model.set(op.path, op.content);
              break;
            }
            case 'link': {
              if (
                !model.has(op.from) ||
                model.has(op.to) ||
                op.from.split('/')[0] !== op.to.split('/')[0]
              )
                break;
              linkSync(abs(op.from), abs(op.to));
              model.set(op.to, model.get(op.from)!);
              break;
            }
            case 'delete': {
              if (!model.has(op.path)) break;
              unlinkSync(abs(op.path));
              model.delete(op.path);
              break;
            }
            case 'rename': {
              if (!model.has(op.from) || op.from === op.to) break;
              if (op.from.split('/')[0] === 'mnt' || op.to.split('/')[0] === 'mnt') {
                if (op.from.split('/')[0] !== op.to.split('/')[0]) break; // no cross-fs rename
              }
              if (model.has(op.to) && lstatSync(abs(op.to)).ino === lstatSync(abs(op.from)).ino)
                break;
              renameSync(abs(op.from), abs(op.to));
              model.set(op.to, model.get(op.from)!);
              model.delete(op.from);
              break;
            }
            case 'scan':
              expect([0]).toContain(cli(['scan', root]).code);
              break;
            case 'plan-execute': {
              if (!existsSync(cat)) break;
              const plan = cli(['conductor', 'plan', 'prop']);
              expect(plan.code).toBe(0);
              const id = plan.json<{ id: number }>().id;
              const show = cli(['conductor', 'show-plan', String(id), '--limit', '0']).json<{
                actions: { type: string; source: string; target: string }[];
              }>();
              for (const a of show.actions.filter((x) => x.type === 'HARDLINK')) {
                const top = (p: string) => p.slice(root.length + 1).split('/')[0] === 'mnt';
                expect(top(a.source)).toBe(top(a.target));
              }
              const ex = cli(['conductor', 'execute', String(id), '--force']);
              expect([0, 1]).toContain(ex.code); // stale actions fail safely
              break;
            }
          }
          // Invariant 1 after every step: contents are exactly the model's.
          for (const [p, c] of model)
            expect(readFileSync(abs(p)).equals(CONTENTS[c]!), p).toBe(true);
        }

        // Final scan; the catalog must equal a fresh scan's.
        expect(cli(['scan', root]).code).toBe(0);
        const fresh = join(root, '..', `r${runNo}-fresh.db`);
        expect(hashall(['scan', root, '--catalog', fresh, '-q']).code).toBe(0);
        const view = (c: string) => {
          const db = new Database(c, { readonly: true });
          try {
            return (
              db
                .prepare(
                  `SELECT path, inode, size, sha256 FROM file_paths WHERE status = 'active' ORDER BY path`,
                )
                .all() as {
                path: Buffer;
                inode: number;
                size: number;
                sha256: Buffer | null;
              }[]
            ).map(
              (r) =>
                `${r.path.toString()} ${r.inode} ${r.size} ${r.sha256 ? r.sha256.toString('hex') : '-'}`,
            );
          } finally {
            db.close();
          }
        };
        const a = view(cat);
        const b = view(fresh);
        expect(a.map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual(
          b.map((l) => l.split(' ').slice(0, 3).join(' ')),
        );
        // Hashes the fresh scan computed must match the incremental catalog's.
        const hashes = new Map(b.map((l) => [l.split(' ')[0], l.split(' ')[3]]));
        for (const l of a) {
          const [p, , , h] = l.split(' ');
          if (h !== '-' && hashes.get(p) !== '-') expect(h, p).toBe(hashes.get(p));
        }

        // Brute-force savings: per (device, content), distinct inodes − 1, times the size.
        const groups = new Map<string, Set<number>>();
        for (const [p, c] of model) {
          if (CONTENTS[c]!.length === 0) continue;
          const st = lstatSync(abs(p));
          const k = `${st.dev}:${c}`;
          const set = groups.get(k) ?? new Set<number>();
          set.add(st.ino);
          groups.set(k, set);
        }
        let expected = 0;
        for (const [k, set] of groups)
          expected += (set.size - 1) * CONTENTS[Number(k.split(':')[1])]!.length;
        const an = cli(['conductor', 'analyze']).json<{
          same_device: { bytes_saveable: number };
        }>();
        expect(an.same_device.bytes_saveable).toBe(expected);

        if (mounted) unmountAll();
        rmSync(root, { recursive: true, force: true });
      }),
      { numRuns: RUNS },
    );
  });
});
