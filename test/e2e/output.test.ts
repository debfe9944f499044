/**
 * Human output off a terminal (a pipe, as from cron or `| less`): plain words instead of emoji,
 * no ANSI escapes, no progress; names that are not UTF-8 or hold newlines printed escaped and
 * distinct; singular and plural; failures listed, and on stderr even with --quiet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

/** Emoji and pictographs (check marks, warning signs, charts…) and the emoji variation selector. */
const EMOJI = /\p{Extended_Pictographic}|\uFE0F/u;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b|\r/;

function ok(args: string[]): string {
  const r = hashall(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** `n` pairs of identical small files: a plan of `n` HARDLINK actions. */
function pairs(root: string, n: number): void {
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    files[`a/${i}.bin`] = `content of pair ${i}\n`;
    files[`b/${i}.bin`] = `content of pair ${i}\n`;
  }
  writeTree(root, files);
}

describe('output off a terminal', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => removeTree(dir));

  it('names that are not UTF-8 or hold a newline print escaped, distinct, never as U+FFFD', () => {
    const tree = join(dir, 'names');
    mkdirSync(tree);
    const name = (...parts: (string | number)[]) =>
      Buffer.concat([
        Buffer.from(tree + '/'),
        ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from([p]))),
      ]);
    // Two names that differ only in a byte that is not UTF-8, each with a copy.
    writeFileSync(name('caf', 0xe9, '.txt'), 'first content\n');
    writeFileSync(name('copy-e9.txt'), 'first content\n');
    writeFileSync(name('caf', 0xe8, '.txt'), 'second content\n');
    writeFileSync(name('copy-e8.txt'), 'second content\n');
    writeFileSync(name('new\nline.txt'), 'third content\n');
    writeFileSync(name('copy-nl.txt'), 'third content\n');
    const cat = join(dir, 'names.db');
    ok(['scan', tree, '--catalog', cat]);
    ok(['conductor', 'plan', 'names', '--catalog', cat]);
    const check = (text: string) => {
      expect(text).not.toContain('\ufffd');
      expect(text).toContain(`'${tree}/caf'$'\\351''.txt'`);
      expect(text).toContain(`'${tree}/caf'$'\\350''.txt'`);
      expect(text).toContain(`'${tree}/new'$'\\n''line.txt'`);
    };
    check(ok(['conductor', 'show-plan', '1', '--limit', '0', '--catalog', cat]));
    check(ok(['conductor', 'execute', '1', '--dry-run', '--verbose', '--catalog', cat]));
  });

  it('scan, analyze, plan, show-plan, execute and status print no emoji and no escapes', () => {
    const tree = join(dir, 'plain');
    pairs(tree, 3);
    const cat = join(dir, 'plain.db');
    const outputs = [
      ok(['scan', tree, '--catalog', cat]),
      ok(['conductor', 'analyze', '--cross-device', '--catalog', cat]),
      ok(['conductor', 'plan', 'plain', '--catalog', cat]),
      ok(['conductor', 'show-plan', '1', '--catalog', cat]),
      ok(['conductor', 'execute', '1', '--dry-run', '--catalog', cat]),
      ok(['conductor', 'execute', '1', '--force', '--catalog', cat]),
      ok(['conductor', 'status', '--catalog', cat]),
    ];
    for (const text of outputs) {
      expect(text).not.toMatch(EMOJI);
      expect(text).not.toMatch(ANSI);
    }
    expect(outputs[0]).toMatch(/^ok Scan complete: /);
    expect(outputs[5]).toMatch(/^Executed: 3$/m);
    expect(outputs[5]).toMatch(/^Failed: 0$/m);
    // A plan of 3 prints each action, as the guide shows: target ← source, then 'ok'.
    expect(outputs[5]).toMatch(/HARDLINK: \/.*\n {2}← \/.*\n {2}Saves: [\d,]+ bytes\n {2}ok\n/);
  });

  it('counts are singular for one: 1 file in 1 directory', () => {
    const tree = join(dir, 'one');
    writeTree(tree, { 'only.txt': 'alone\n' });
    const cat = join(dir, 'one.db');
    const text = ok(['scan', tree, '--catalog', cat]);
    expect(text).toMatch(/^ {3}Files: 1 file in 1 directory$/m);
    expect(text).toMatch(/^ {3}Hashed: 0 files, /m);
    const status = ok(['conductor', 'status', '--catalog', cat]);
    expect(status).toMatch(/ - 1 file, /);
    expect(status).toMatch(/Files: +1 path, 1 inode$/m);
  });

  it('a large plan lists its failures, not every action; --quiet prints them on stderr', () => {
    const run = (name: string, extra: string[]) => {
      const tree = join(dir, name);
      pairs(tree, 150);
      const cat = join(dir, `${name}.db`);
      ok(['scan', tree, '--catalog', cat]);
      ok(['conductor', 'plan', name, '--catalog', cat]);
      // Pair 7 changes after planning: its action fails (stale), the others are carried out.
      appendFileSync(join(tree, 'a/7.bin'), 'more');
      appendFileSync(join(tree, 'b/7.bin'), 'more');
      return hashall(['conductor', 'execute', '1', '--force', '--catalog', cat, ...extra]);
    };
    const r = run('many', []);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(ANSI);
    expect(r.stdout.match(/Saves:/g)).toHaveLength(1);
    expect(r.stdout).toMatch(/HARDLINK: .*\/7\.bin\n {2}← .*\/7\.bin\n {2}Saves: .*\n {2}FAILED: /);
    expect(r.stdout).toMatch(/^Executed: 149$/m);
    expect(r.stdout).toMatch(/^FAILED: 1$/m);

    const q = run('quiet', ['--quiet']);
    expect(q.code).toBe(1);
    expect(q.stdout).toBe('');
    expect(q.stderr).toMatch(
      /^hashall: error: HARDLINK #\d+ failed: \/.*\/7\.bin ← \/.*\/7\.bin: .+\n$/,
    );
  });
});
