/**
 * The executor acts relative to directory fds (src/fs/at-ops.ts): with the addon through real
 * *at() calls (openat2 RESOLVE_NO_SYMLINKS, or a component-by-component O_NOFOLLOW walk where
 * the kernel lacks it), without it through /proc/self/fd/N/NAME. A directory swapped for a
 * symlink to elsewhere — before execute, between an action's check and its act, or inside the
 * act itself — must never lead a link, rename or unlink outside the tree; a directory moved
 * away after the check is refused just before the act; recovery never follows a symlink on a
 * journaled path. Every test runs each way.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  lstatSync,
  readFileSync,
  readdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { killAt, killExecuteAt } from '../helpers/kill-at.js';

interface ExecJson {
  executed: number;
  failed: number;
  status: string;
  failures: { target: string; error: string }[];
}

/** Does the built addon have the *at() calls? (Loaded here directly: HASHALL_NATIVE may be 0.) */
function addonAt(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const gypBuild = require('node-gyp-build') as (dir: string) => { at?: unknown };
    const addon = gypBuild(fileURLToPath(new URL('../../', import.meta.url)));
    return addon.at ? undefined : 'the built addon has no *at() calls (npm run build:native)';
  } catch (err) {
    return `the native addon did not load (${(err as Error).message.split('\n')[0]})`;
  }
}
const nativeMissing = addonAt();

const MODES = [
  { mode: 'native', env: { HASHALL_NATIVE: '1' }, native: true },
  {
    mode: 'native without openat2',
    env: { HASHALL_NATIVE: '1', HASHALL_FAILPOINT_FLAGS: 'no-openat2' },
    native: true,
  },
  { mode: 'JS (/proc/self/fd)', env: { HASHALL_NATIVE: '0' }, native: false },
] as const;

const BIG = (tag: string) => Buffer.alloc(20_000, tag);

/** Every name under `dir` with its inode, link count and content digest: what "untouched" means. */
function state(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const sha = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : '-';
      out.push(`${p} ino=${st.ino} nlink=${st.nlink} ${sha}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function temps(dir: string): string[] {
  return state(dir).filter((l) => l.includes('.hashall-tmp-'));
}

describe.each(MODES)('execute in directories swapped for symlinks ($mode)', (m) => {
  let dir: string;
  let tree: string;
  let outside: string;
  let cat: string;
  let planId: number;

  beforeEach((ctx) => {
    if (m.native && nativeMissing) {
      if (process.env.HASHALL_REQUIRE_NATIVE === '1') throw new Error(nativeMissing);
      console.warn(`skipping: ${nativeMissing}`);
      ctx.skip(nativeMissing);
    }
    dir = tempDir();
    tree = join(dir, 't');
    // keep/x.bin is kept (--keep path), victim/x.bin is to become a link of it.
    writeTree(tree, { 'keep/x.bin': BIG('k'), 'victim/x.bin': BIG('k') });
    // Outside the tree, under the same names: what a path-based executor would be led to.
    outside = join(dir, 'outside');
    writeTree(outside, { 'x.bin': BIG('o') });
    cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const r = hashall(['conductor', 'plan', 'at', '--keep', 'path', '--catalog', cat, '--json']);
    planId = r.json<{ id: number }>().id;
  });
  afterEach(() => {
    if (dir) removeTree(dir);
  });

  /** Move tree/victim away and put a symlink to `outside` in its place. */
  const swap = () => {
    renameSync(join(tree, 'victim'), join(dir, 'moved-victim'));
    symlinkSync(outside, join(tree, 'victim'));
  };

  /** Run execute until it says it paused at `point`, swap, let it finish. */
  async function executeSwappingAt(point: string): Promise<{ code: number | null; doc: ExecJson }> {
    const child = spawn(
      process.execPath,
      [CLI, 'conductor', 'execute', String(planId), '--force', '--json', '--catalog', cat],
      {
        env: {
          ...process.env,
          HASHALL_CATALOG: '',
          ...m.env,
          // Long enough for this process to swap after it read the line; never waited out
          // otherwise.
          HASHALL_FAILPOINT_DELAY: `${point}=3000`,
        },
      },
    );
    let out = '';
    let err = '';
    let swapped = false;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (!swapped && err.includes(`failpoint: paused at ${point}`)) {
        swapped = true;
        swap();
      }
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(swapped, `never paused at ${point}: ${err}`).toBe(true);
    return { code, doc: JSON.parse(out) as ExecJson };
  }

  it('swapped before execute: refused at the walk, nothing created, renamed or deleted outside', () => {
    const before = state(outside);
    swap();
    const r = hashall(
      ['conductor', 'execute', String(planId), '--force', '--json', '--catalog', cat],
      {
        env: m.env,
      },
    );
    const doc = r.json<ExecJson>();
    expect(r.code).toBe(1);
    expect(doc.failed).toBe(1);
    expect(doc.failures[0]!.error).toMatch(/no longer a directory/);
    expect(state(outside)).toEqual(before);
    expect(temps(dir)).toEqual([]);
  });

  it('swapped between the check and the act: the act is refused, nothing touched anywhere', async () => {
    const before = state(outside);
    const victimIno = lstatSync(join(tree, 'victim', 'x.bin')).ino;
    const { code, doc } = await executeSwappingAt('execute-apply');
    expect(code).toBe(1);
    expect(doc.executed).toBe(0);
    expect(doc.failed).toBe(1);
    expect(doc.failures[0]!.error).toMatch(
      /was moved or replaced .* since it was checked; nothing done/,
    );
    expect(state(outside)).toEqual(before);
    // Not linked at its new place either (the journal's paths would not lead recovery there).
    expect(lstatSync(join(dir, 'moved-victim', 'x.bin')).ino).toBe(victimIno);
    expect(lstatSync(join(tree, 'keep', 'x.bin')).nlink).toBe(1);
    expect(temps(dir)).toEqual([]);
  });

  it('swapped inside the act (after the last re-check): the link and rename stay in the directory checked', async () => {
    const before = state(outside);
    const { code, doc } = await executeSwappingAt('execute-act');
    expect(doc.failures).toEqual([]);
    expect(code).toBe(0);
    expect(doc.executed).toBe(1);
    // Through the directory's fd: the file checked was replaced, where it now lives.
    expect(lstatSync(join(dir, 'moved-victim', 'x.bin')).ino).toBe(
      lstatSync(join(tree, 'keep', 'x.bin')).ino,
    );
    expect(state(outside)).toEqual(before);
    expect(temps(dir)).toEqual([]);
  });

  it('recovery after a crash never follows a swapped directory to delete a file there', () => {
    killExecuteAt(cat, planId, { point: 'before-rename', env: m.env });
    const [left] = readdirSync(join(tree, 'victim')).filter((n) => n.startsWith('.hashall-tmp-'));
    expect(left).toBeDefined();
    swap();
    // A file of the user's outside, under the very name the journal holds.
    writeFileSync(join(outside, left!), 'not ours');
    const before = state(outside);
    const r = hashall(
      ['conductor', 'execute', String(planId), '--force', '--json', '--catalog', cat],
      {
        env: m.env,
      },
    );
    expect(r.stderr).toMatch(/Recovered an interrupted run/);
    expect(state(outside)).toEqual(before);
    expect(readFileSync(join(outside, left!), 'utf8')).toBe('not ours');
    // The action is tried again, and refused at the walk.
    const doc = r.json<ExecJson>();
    expect(doc.failed).toBe(1);
    expect(doc.failures[0]!.error).toMatch(/no longer a directory/);
  });

  it("undo's recovery after a crash never follows a swapped directory to delete a file there", () => {
    const ex = hashall(['conductor', 'execute', String(planId), '--force', '--catalog', cat], {
      env: m.env,
    });
    expect(ex.code).toBe(0);
    killAt(['conductor', 'undo', String(planId), '--force', '--catalog', cat], {
      // Before the copy's inode is journaled: only its name (and our prefix) say it is ours.
      point: 'undo-after-copy',
      env: m.env,
    });
    const [left] = readdirSync(join(tree, 'victim')).filter((n) => n.startsWith('.hashall-'));
    expect(left).toBeDefined();
    swap();
    writeFileSync(join(outside, left!), 'not ours');
    const before = state(outside);
    const r = hashall(['conductor', 'undo', String(planId), '--force', '--catalog', cat], {
      env: m.env,
    });
    expect(r.stderr).toMatch(/Recovered an interrupted undo/);
    expect(state(outside)).toEqual(before);
    expect(readFileSync(join(outside, left!), 'utf8')).toBe('not ours');
  });
});

describe('execute where /proc/self/fd cannot be used', () => {
  const why = (() => {
    if (process.getuid?.() !== 0) return 'needs root to mount over /proc/PID/fd';
    if (spawnSync('unshare', ['-m', 'true']).status !== 0) return 'unshare -m is unavailable';
    return undefined;
  })();

  let dir: string;
  let tree: string;
  let cat: string;
  let planId: number;
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
    dir = tempDir();
    tree = join(dir, 't');
    writeTree(tree, { 'keep/x.bin': BIG('k'), 'victim/x.bin': BIG('k') });
    cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    planId = hashall([
      'conductor',
      'plan',
      'noproc',
      '--keep',
      'path',
      '--catalog',
      cat,
      '--json',
    ]).json<{
      id: number;
    }>().id;
  });
  afterEach(() => {
    if (dir) removeTree(dir);
  });

  /** execute in a mount namespace where the process's own /proc/PID/fd is an empty tmpfs. */
  const executeWithoutProcFd = (env: Record<string, string>) => {
    const r = spawnSync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        'mount --make-rprivate / && mount -t tmpfs none /proc/$$/fd && exec "$@"',
        'sh',
        process.execPath,
        CLI,
        'conductor',
        'execute',
        String(planId),
        '--force',
        '--json',
        '--catalog',
        cat,
      ],
      { env: { ...process.env, HASHALL_CATALOG: '', ...env }, encoding: 'utf8' },
    );
    return { code: r.status, doc: JSON.parse(r.stdout) as ExecJson, stderr: r.stderr };
  };

  it('native: real *at() calls need no /proc', (ctx) => {
    if (nativeMissing) ctx.skip(nativeMissing);
    const r = executeWithoutProcFd({ HASHALL_NATIVE: '1' });
    expect(r.doc.failures).toEqual([]);
    expect(r.code).toBe(0);
    expect(lstatSync(join(tree, 'victim', 'x.bin')).ino).toBe(
      lstatSync(join(tree, 'keep', 'x.bin')).ino,
    );
  });

  it('JS: every action fails (ENOENT) and nothing is touched', () => {
    const before = state(tree);
    const r = executeWithoutProcFd({ HASHALL_NATIVE: '0' });
    expect(r.code).toBe(1);
    expect(r.doc.executed).toBe(0);
    expect(r.doc.failures[0]!.error).toMatch(/ENOENT/);
    expect(state(tree)).toEqual(before);
  });
});
