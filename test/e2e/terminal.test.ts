/**
 * On a real terminal (a pty from script(1), or a tmux pane whose screen is read back): progress
 * goes to stderr and never passes its total, Ctrl-C leaves clean lines, execute draws a bar and
 * prints failures rather than every action, and asks before touching anything — 'n' does
 * nothing, 'y' executes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, linkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

/**
 * Scan a small tree beside `root` into `catalog` first. A filesystem's first scan reads an inode
 * with several links during its walk (src/scan/linked-inodes.ts); once the filesystem has rows,
 * the stages after the walk read it, which is what the hashing bar and the pending count here
 * need to show.
 */
function scanEarlierTree(root: string, catalog: string): void {
  const earlier = `${root}-earlier`;
  writeTree(earlier, { 'alone.txt': 'no other file has this size at all' });
  expect(hashall(['scan', earlier, '--catalog', catalog, '-q']).code).toBe(0);
}

function onTerminal(args: string[], input: string, env: Record<string, string> = {}): string {
  const cmd = [process.execPath, CLI, ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    input,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r.stdout;
}

describe('on a terminal', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 't');
    cat = join(dir, 'c.db');
    writeTree(tree, { 'a.bin': 'same bytes', 'b.bin': 'same bytes', 'c.bin': 'other text' });
    // An inode with two links is hashed after the walk: the hashing bar shows too.
    linkSync(join(tree, 'c.bin'), join(tree, 'c-link.bin'));
    scanEarlierTree(tree, cat);
  });
  afterAll(() => removeTree(dir));

  it('scan shows progress and then the summary', () => {
    // Progress is drawn at each commit: commit after every directory, so the walk shows too.
    const out = onTerminal(['scan', tree, '--catalog', cat], '', {
      HASHALL_FAILPOINT_FLAGS: 'scan-small-commits',
    });
    expect(out).toMatch(/walking {2}4 files in 1 directory \| hashed \d files?, [\d.]+ K?B, /);
    expect(out).toMatch(/hashing( prefixes)? {2}\[/);
    expect(out).toMatch(/✅ Scan complete/);
    expect(out).not.toMatch(/\{(done|bytes|rate)\}/);
  });

  it('an unchanged rescan shows its walk too (scan and analyze --rescan)', () => {
    // 300 directories that nothing changed in, listed slowly (5 ms each, as a network
    // filesystem might): the rescan commits nothing for a page of directories, and the display
    // must still move.
    const slow = join(dir, 'slow');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`d${String(i).padStart(3, '0')}/f.txt`] = `file ${i}`;
    writeTree(slow, files);
    const slowCat = join(dir, 'slow.db');
    expect(hashall(['scan', slow, '--catalog', slowCat, '-q']).code).toBe(0);
    const env = { HASHALL_FAILPOINT_DELAY: 'scan-dir=5' };
    for (const args of [
      ['scan', slow],
      ['conductor', 'analyze', '--rescan'],
    ]) {
      const out = onTerminal([...args, '--catalog', slowCat], '', env);
      expect(out, args.join(' ')).toMatch(
        /walking {2}\d+ files in \d+ directories \| hashed 0 files/,
      );
    }
  });

  it('execute asks first: no changes nothing, yes executes', () => {
    expect(hashall(['conductor', 'plan', 'tty', '--catalog', cat, '-q']).code).toBe(0);
    const no = onTerminal(['conductor', 'execute', '1', '--catalog', cat], 'n\n');
    expect(no).toMatch(/Replace these files with hardlinks now\? \[y\/N\]/);
    expect(no).toMatch(/Nothing done\./);
    expect(lstatSync(join(tree, 'a.bin')).ino).not.toBe(lstatSync(join(tree, 'b.bin')).ino);
    const yes = onTerminal(['conductor', 'execute', '1', '--catalog', cat], 'y\n');
    expect(yes).toMatch(/✅ Executed: 1/);
    expect(lstatSync(join(tree, 'a.bin')).ino).toBe(lstatSync(join(tree, 'b.bin')).ino);
  });
});

/** Every state of the progress line drawn in raw terminal output (redrawn after '\r'). */
function frames(raw: string): string[] {
  // eslint-disable-next-line no-control-regex
  return raw.split(/\r|\n|\x1b\[[0-9;?]*[A-Za-z]/).filter((f) => f.trim() !== '');
}

const num = (s: string | undefined) => Number((s ?? '').replace(/,/g, ''));

describe('progress bars', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => removeTree(dir));

  it('the hashing bar after the walk never passes 100 % nor its total as stages add work', () => {
    // Inodes with two links are hashed after the walk, in two stages (prefix, then full):
    // 60 pairs of identical contents (larger than the prefix stage reads whole), each file
    // hardlinked once.
    const tree = join(dir, 'linked');
    const files: Record<string, string> = {};
    for (let i = 0; i < 60; i++) {
      files[`a/${i}`] = `same ${i}`.padEnd(256 * 1024, '.');
      files[`b/${i}`] = `same ${i}`.padEnd(256 * 1024, '.');
    }
    writeTree(tree, files);
    for (let i = 0; i < 60; i++) {
      linkSync(join(tree, `a/${i}`), join(tree, `a/${i}.link`));
      linkSync(join(tree, `b/${i}`), join(tree, `b/${i}.link`));
    }
    scanEarlierTree(tree, join(dir, 'linked.db'));
    const out = onTerminal(['scan', tree, '--catalog', join(dir, 'linked.db')], '', {
      HASHALL_FAILPOINT_DELAY: 'scan-hash-job=10',
    });
    const bars = frames(out).filter((f) => /^hashing/.test(f));
    expect(bars.length).toBeGreaterThan(3);
    const totals = new Set<number>();
    for (const f of bars) {
      const m = /(\d+)% \| ([\d,]+)\/([\d,]+) files? \|/.exec(f);
      expect(m, f).not.toBeNull();
      expect(Number(m![1]), f).toBeLessThanOrEqual(100);
      expect(num(m![2]), f).toBeLessThanOrEqual(num(m![3]));
      totals.add(num(m![3]));
    }
    // The full-hash stage added its work to the total: 120 inodes, then 120 more.
    expect([...totals].sort((x, y) => x - y)).toEqual([120, 240]);
    expect(out).toMatch(/✅ Scan complete/);
  });

  it('execute of hundreds of actions draws a bar and the summary, and prints the failures', () => {
    const tree = join(dir, 'pairs');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) {
      files[`a/${i}.bin`] = `pair ${i}\n`;
      files[`b/${i}.bin`] = `pair ${i}\n`;
    }
    writeTree(tree, files);
    const cat = join(dir, 'pairs.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    expect(hashall(['conductor', 'plan', 'p', '--catalog', cat, '-q']).code).toBe(0);
    appendFileSync(join(tree, 'a/42.bin'), 'changed');
    appendFileSync(join(tree, 'b/42.bin'), 'changed');
    const out = onTerminal(['conductor', 'execute', '1', '--force', '--catalog', cat], '');
    const bars = frames(out).filter((f) => /^executing/.test(f));
    expect(bars.length).toBeGreaterThan(0);
    for (const f of bars) {
      const m = /(\d+)% \| ([\d,]+)\/([\d,]+) actions \|/.exec(f);
      expect(m, f).not.toBeNull();
      expect(num(m![2])).toBeLessThanOrEqual(num(m![3]));
    }
    // One block, the failure's: not one per action.
    expect(out.match(/Saves:/g)).toHaveLength(1);
    expect(out).toMatch(/HARDLINK: \S*\/42\.bin\r?\n {2}← \S*\/42\.bin\r?\n.*\r?\n {2}❌ Failed: /);
    expect(out).toMatch(/✅ Executed: 299/);
    expect(out).toMatch(/❌ Failed: 1/);
  });
});

/** Run `command` in a tmux pane; `interrupt` sends Ctrl-C once `when` shows on the screen. */
async function inTmux(
  command: string,
  interrupt: { when: RegExp } | undefined,
): Promise<{ screen: string[]; code: number }> {
  const session = `hashall-test-${process.pid}`;
  const tmux = (...args: string[]) => {
    const r = spawnSync('tmux', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args[0]}: ${r.stderr}`);
    return r.stdout;
  };
  const screen = () => tmux('capture-pane', '-p', '-t', session).split('\n');
  const until = async (re: RegExp) => {
    for (let i = 0; i < 1200; i++) {
      if (screen().some((l) => re.test(l))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`never showed ${re}:\n${screen().join('\n')}`);
  };
  tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', 'bash --norc --noprofile');
  try {
    tmux('send-keys', '-t', session, '-l', `${command}; echo "__EXIT $?"`);
    tmux('send-keys', '-t', session, 'Enter');
    if (interrupt) {
      await until(interrupt.when);
      tmux('send-keys', '-t', session, 'C-c');
    }
    await until(/^__EXIT \d+/);
    const lines = screen().map((l) => l.trimEnd());
    // The typed command may wrap right before its own `__EXIT $?`: look for the digits.
    const code = Number(/^__EXIT (\d+)/.exec(lines.find((l) => /^__EXIT \d+/.test(l))!)![1]);
    return { screen: lines, code };
  } finally {
    tmux('kill-session', '-t', session);
  }
}

const noTmux = spawnSync('tmux', ['-V']).status !== 0;

describe.skipIf(noTmux)('Ctrl-C on a terminal (tmux; skipped when tmux is not installed)', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => removeTree(dir));

  it('a scan stopped by Ctrl-C clears its bar: the notice and the summary are clean lines', async () => {
    const tree = join(dir, 't');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`d${i}/f.txt`] = `file ${i}\n`;
    // In the root, listed first: an inode of two links, which is hashed after the walk (still
    // pending when the walk is stopped), and a file of its size, which makes it a candidate.
    files['x.txt'] = 'file x\n';
    files['z.txt'] = 'file z\n';
    writeTree(tree, files);
    linkSync(join(tree, 'x.txt'), join(tree, 'y.txt'));
    scanEarlierTree(tree, join(dir, 'c.db'));
    const q = (s: string) => `'${s}'`;
    const { screen, code } = await inTmux(
      `HASHALL_FAILPOINT_DELAY=scan-dir=30 HASHALL_FAILPOINT_FLAGS=scan-small-commits ${q(process.execPath)} ${q(CLI)} scan ${q(tree)} --catalog ${q(join(dir, 'c.db'))}`,
      { when: /^walking .*[1-9]\d* files? in/ },
    );
    expect(code).toBe(130);
    const text = screen.join('\n');
    expect(
      screen.some((l) => /^(walking|hashing) /.test(l)),
      text,
    ).toBe(false);
    expect(screen, text).toContain(
      'hashall: SIGINT received; stopping at the next safe point (again to quit at once)',
    );
    expect(text).toMatch(/^⚠️ +Scan interrupted: \//m);
    expect(text).toMatch(/^ {3}Files: [\d,]+ files? in [\d,]+ director(y|ies)$/m);
    // Not blamed on the disk: the stop is why.
    expect(text).toMatch(
      /^ {3}Pending: 1 candidate inode still needs hashing \(the scan stopped first: scan again to finish\)$/m,
    );
  });
});
