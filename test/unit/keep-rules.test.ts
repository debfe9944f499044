import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  ONLY_RULE,
  TIE_RULE,
  chooseCandidate,
  compareBy,
  keepRuleText,
  parseKeepRule,
  type Candidate,
  type KeepRule,
} from '../../src/conductor/keep-rules.js';
import { UserError } from '../../src/errors.js';
import { tempDir } from '../helpers/fs.js';
import { memberFactory } from '../helpers/members.js';

const make = memberFactory({ size: 10, mtimeNs: 0n, ctimeNs: 0n, uid: 0, gid: 0, sha256: null });
function cand(
  path: string,
  inode: number,
  o: { mtime?: bigint; held?: boolean; links?: number } = {},
): Candidate {
  const member = make(path, inode, o.mtime === undefined ? {} : { mtimeNs: o.mtime });
  return { member, visible: Buffer.from(path), held: o.held ?? false, links: o.links ?? 1 };
}

const rules = (...texts: string[]): KeepRule[] => texts.map((t) => parseKeepRule(t, '/'));
const choose = (cands: Candidate[], ...texts: string[]) => {
  const r = chooseCandidate(cands, rules(...texts));
  return [r.kept.member.path.toString(), r.rule];
};

describe('parseKeepRule', () => {
  const dir = realpathSync(tempDir('hashall-keep-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('knows the named rules and makes prefer=PREFIX absolute', () => {
    for (const n of ['most-linked', 'path', 'oldest', 'newest', 'shortest-path'])
      expect(keepRuleText(parseKeepRule(n))).toBe(n);
    expect(keepRuleText(parseKeepRule('prefer=media/', '/pool'))).toBe('prefer=/pool/media');
    expect(keepRuleText(parseKeepRule('prefer=../x/./y', '/pool/a'))).toBe('prefer=/pool/x/y');
    expect(keepRuleText(parseKeepRule('prefer=/', '/pool'))).toBe('prefer=/');
  });

  it('resolves an existing prefix through symlinks, as scanned paths are', () => {
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect(keepRuleText(parseKeepRule(`prefer=${join(dir, 'link')}`))).toBe(
      `prefer=${join(dir, 'real')}`,
    );
  });

  it('refuses unknown rules and an empty prefix with one line', () => {
    for (const bad of ['', 'nonsense', 'prefer=', 'prefer', 'Oldest', 'oldest,newest']) {
      let msg = '';
      try {
        parseKeepRule(bad);
      } catch (err) {
        expect(err).toBeInstanceOf(UserError);
        msg = (err as Error).message;
      }
      expect(msg).toMatch(
        /^--keep: '.*' (is not a keep rule; use most-linked, path, oldest, newest, shortest-path or prefer=PREFIX|needs a path after prefer=)$/,
      );
    }
  });
});

describe('chooseCandidate', () => {
  const a = cand('/pool/b/long-name.bin', 1, { mtime: 300n });
  const b = cand('/pool/a/x.bin', 2, { mtime: 100n, links: 2 });
  const b2 = cand('/pool/z/x.bin', 2, { mtime: 100n, links: 2 });
  const c = cand('/pool/c/x', 3, { mtime: 200n, held: true });
  const all = [a, b, b2, c];

  it('each rule picks its copy and is named as the deciding rule', () => {
    expect(choose(all, 'most-linked')).toEqual(['/pool/c/x', 'most-linked']); // held first
    expect(choose([a, b, b2], 'most-linked')).toEqual(['/pool/a/x.bin', 'most-linked']);
    expect(choose(all, 'path')).toEqual(['/pool/a/x.bin', 'path']);
    expect(choose(all, 'oldest')).toEqual(['/pool/a/x.bin', 'oldest']);
    expect(choose(all, 'newest')).toEqual(['/pool/b/long-name.bin', 'newest']);
    expect(choose(all, 'shortest-path')).toEqual(['/pool/c/x', 'shortest-path']);
    expect(choose(all, 'prefer=/pool/z')).toEqual(['/pool/z/x.bin', 'prefer=/pool/z']);
    expect(choose([a], 'oldest')).toEqual(['/pool/b/long-name.bin', ONLY_RULE]);
    expect(choose([b, b2], 'path')).toEqual(['/pool/a/x.bin', ONLY_RULE]);
  });

  it('ties fall through to the next rule, finally to the lexically first path', () => {
    const x = cand('/d/bb', 1, { mtime: 5n });
    const y = cand('/d/a', 2, { mtime: 5n });
    const z = cand('/d/cc', 3, { mtime: 9n });
    expect(choose([x, y, z], 'oldest', 'shortest-path')).toEqual(['/d/a', 'shortest-path']);
    expect(choose([x, y, z], 'oldest', 'prefer=/d/bb')).toEqual(['/d/bb', 'prefer=/d/bb']);
    expect(choose([x, y, z], 'oldest')).toEqual(['/d/a', TIE_RULE]);
    expect(choose([x, y, z], 'newest', 'oldest')).toEqual(['/d/cc', 'newest']);
    expect(choose([x, y], 'most-linked')).toEqual(['/d/a', TIE_RULE]);
    // The first deciding rule wins even when a later one would disagree.
    expect(choose([x, y, z], 'prefer=/d/cc', 'oldest')).toEqual(['/d/cc', 'prefer=/d/cc']);
  });

  it('prefer= respects component boundaries', () => {
    const under = cand('/a/b/x', 1);
    const sibling = cand('/a/bc/x', 2);
    expect(choose([sibling, under], 'prefer=/a/b')).toEqual(['/a/b/x', 'prefer=/a/b']);
    expect(choose([sibling, cand('/a/b', 3)], 'prefer=/a/b')).toEqual(['/a/b', 'prefer=/a/b']);
    expect(compareBy(parseKeepRule('prefer=/a/b'), sibling, cand('/a/b.x/y', 4))).toBe(0);
  });

  it('shortest-path counts bytes, not characters; oldest and newest compare nanoseconds', () => {
    expect(choose([cand('/p/ééé', 1), cand('/p/abcd', 2)], 'shortest-path')).toEqual([
      '/p/abcd',
      'shortest-path',
    ]);
    const t = 1_767_225_600_000_000_000n;
    expect(
      choose([cand('/a', 1, { mtime: t + 1n }), cand('/b', 2, { mtime: t })], 'oldest'),
    ).toEqual(['/b', 'oldest']);
  });

  const arbCands = fc
    .array(
      fc.record({
        dir: fc.constantFrom('/p', '/p/q', '/pq', '/p/q/r'),
        name: fc.constantFrom('a', 'bb', 'ccc', 'a.b'),
        inode: fc.integer({ min: 1, max: 4 }),
        mtime: fc.integer({ min: 0, max: 3 }),
        held: fc.boolean(),
        links: fc.integer({ min: 1, max: 3 }),
      }),
      { minLength: 1, maxLength: 8 },
    )
    .map((rows) => {
      const seen = new Set<string>();
      return rows
        .filter((r) => {
          const p = `${r.dir}/${r.name}`;
          if (seen.has(p)) return false;
          seen.add(p);
          return true;
        })
        .map((r) =>
          cand(`${r.dir}/${r.name}`, r.inode, {
            mtime: BigInt(r.mtime),
            held: r.held,
            links: r.links,
          }),
        );
    });
  const arbRules = fc.array(
    fc.constantFrom(
      'most-linked',
      'path',
      'oldest',
      'newest',
      'shortest-path',
      'prefer=/p/q',
      'prefer=/pq',
    ),
    { maxLength: 4 },
  );

  it('keeps the copy no other beats under the chain, whatever the input order (property)', () => {
    fc.assert(
      fc.property(arbCands, arbRules, fc.integer(), (cands, texts, seed) => {
        const chain = rules(...texts);
        const { kept, rule } = chooseCandidate(cands, chain);
        const shuffled = [...cands].sort(
          (x, y) => ((x.member.fileId * 7919 + seed) % 13) - ((y.member.fileId * 7919 + seed) % 13),
        );
        const again = chooseCandidate(shuffled, chain);
        expect(again.kept).toBe(kept);
        expect(again.rule).toBe(rule);
        for (const other of cands) {
          if (other === kept) continue;
          const decisive = chain.map((r) => compareBy(r, kept, other)).find((c) => c !== 0);
          if (decisive !== undefined) expect(decisive).toBeLessThan(0);
          else expect(Buffer.compare(kept.visible, other.visible)).toBeLessThan(0);
        }
        // The named rule: every earlier rule ties with the best copy on another inode.
        const others = cands.filter((x) => x.member.inode !== kept.member.inode);
        if (others.length === 0) {
          expect(rule).toBe(ONLY_RULE);
          return;
        }
        const i = chain.findIndex((r) => keepRuleText(r) === rule);
        const runnerUp = chooseCandidate(others, chain).kept;
        if (rule === TIE_RULE) {
          expect(chain.every((r) => compareBy(r, kept, runnerUp) === 0)).toBe(true);
        } else {
          expect(i).toBeGreaterThanOrEqual(0);
          expect(chain.slice(0, i).every((r) => compareBy(r, kept, runnerUp) === 0)).toBe(true);
          expect(compareBy(chain[i]!, kept, runnerUp)).toBeLessThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
