/**
 * `--keep prefer=PREFIX` where PREFIX names the files through another view of their filesystem
 * than the one paths are shown through: a bind mount of one of its directories. The rule
 * matches files by their place in the filesystem, so it applies whichever view names them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashall, type CliResult } from '../helpers/cli.js';
import {
  bindMount,
  mountTmpfs,
  mountUnavailableReason,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
} from '../helpers/fs.js';

interface ShowJson {
  keep: string[];
  actions: { type: string; source: string; target: string; keep_rule: string }[];
}

let base: string;
let pool: string; // a tmpfs
let view: string; // `mount --bind POOL/zzz VIEW`
let cat: string;

function ok<T>(args: string[]): T {
  const r: CliResult = hashall([...args, '--catalog', cat, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** The one HARDLINK of a plan made with these --keep rules: which copy stays, and why. */
function keptWith(name: string, rules: string[]): { source: string; keepRule: string } {
  const plan = ok<{ id: number }>([
    'conductor',
    'plan',
    name,
    '--device',
    pool,
    ...rules.flatMap((r) => ['--keep', r]),
  ]);
  const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id)]);
  const links = show.actions.filter((a) => a.type === 'HARDLINK');
  expect(links).toHaveLength(1);
  return { source: links[0]!.source, keepRule: links[0]!.keep_rule };
}

beforeAll(() => {
  if (mountUnavailableReason()) return; // each test skips with the reason
  base = realpathSync(tempDir('hashall-keepview-'));
  pool = join(base, 'pool');
  view = join(base, 'view');
  mountTmpfs(pool, 8);
  // Two copies; every rule but prefer= ties, and the tie keeps the lexically first: aaa/.
  for (const d of ['aaa', 'zzz']) {
    mkdirSync(join(pool, d));
    writeFileSync(join(pool, d, 'copy.bin'), 'the same bytes in both\n'.repeat(500));
  }
  bindMount(join(pool, 'zzz'), view);
  cat = join(base, 'c.db');
  const s = hashall(['scan', pool, '--catalog', cat, '--quiet']);
  expect(s.code, s.stderr).toBe(0);
});

afterAll(() => {
  unmountAll();
  if (base) removeTree(base);
});

describe('--keep prefer=PREFIX through another view of the filesystem', () => {
  it('keeps the copy the prefix names through a bind mount (regression: the rule matched nothing)', (ctx) => {
    requireMounts(ctx);
    // Paths are shown through the pool's own mount; the prefix names zzz/ through the bind.
    const viaBind = keptWith('via-bind', [`prefer=${view}`]);
    expect(viaBind).toEqual({ source: join(pool, 'zzz', 'copy.bin'), keepRule: `prefer=${view}` });
    // The same place named through the pool's own mount, as before.
    expect(keptWith('via-pool', [`prefer=${join(pool, 'zzz')}`])).toEqual({
      source: join(pool, 'zzz', 'copy.bin'),
      keepRule: `prefer=${join(pool, 'zzz')}`,
    });
    // A file named through the bind, and a prefix that names nothing catalogued: the latter
    // matches no copy, and the tie decides.
    expect(keptWith('file', [`prefer=${join(view, 'copy.bin')}`]).source).toBe(
      join(pool, 'zzz', 'copy.bin'),
    );
    expect(keptWith('nowhere', [`prefer=${join(base, 'absent')}`])).toEqual({
      source: join(pool, 'aaa', 'copy.bin'),
      keepRule: 'path (tie)',
    });
  });
});
