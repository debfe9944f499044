/**
 * Output nobody reads any more (src/cli/signals.ts, installOutputGuards): a pipe whose reader
 * exited (`| head`, a quit pager, a `| tee` killed by the same Ctrl-C) or a redirection onto a
 * full disk. Node gets EPIPE (or ENOSPC) as an 'error' event on stdout, which used to end the
 * process wherever it was, with a stack trace: mid-execute included. Now the command stops at
 * its next safe point, as after a first Ctrl-C, and says nothing it cannot say.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hashall } from '../helpers/cli.js';
import { readCatalog } from '../helpers/catalog.js';
import { findFiles, removeTree, tempDir, writeTree } from '../helpers/fs.js';

interface Ended {
  readonly code: number | null;
  readonly stderr: string;
}

/** Run the CLI with stdout as given; 'gone': a pipe whose reader closed before it started. */
function run(args: readonly string[], stdout: 'gone' | number): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = ['ignore', stdout === 'gone' ? 'pipe' : stdout, 'pipe'];
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio,
      env: { ...process.env, HASHALL_CATALOG: '' },
    });
    // Closed at once: Node needs ~100 ms to start, so the command's first write already fails.
    if (stdout === 'gone') child.stdout!.destroy();
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** What a crash left on stderr: Node's report of an unhandled 'error' event, a stack. */
const TRACE = /node:events|Unhandled 'error'|^\s+at /m;

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

describe('output whose reader went away', () => {
  let tree: string;
  let cat: string;
  /** Each pair's content, by the pair's first path. */
  const pairs = new Map<string, Buffer>();

  beforeAll(() => {
    const d = tempDir();
    dirs.push(d);
    tree = join(d, 'tree');
    cat = join(d, 'c.db');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 300; i++) {
      const content = Buffer.alloc(4096 + i, `pair ${i} `);
      files[`a/${i}.bin`] = content;
      files[`b/${i % 7}/${i}.copy`] = content;
      pairs.set(`a/${i}.bin`, content);
    }
    writeTree(tree, files);
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
  });

  it('a command that had finished its work exits as it would have, without a trace', async () => {
    for (const args of [
      ['stats', '--catalog', cat],
      ['conductor', 'analyze', '--catalog', cat],
      ['conductor', 'status', '--catalog', cat],
    ]) {
      const r = await run(args, 'gone');
      expect({ args, ...r }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  it('execute stops at its first safe point, every path whole; a second run finishes', async () => {
    const plan = hashall(['conductor', 'plan', 'p', '--catalog', cat, '--json']).json<{
      id: number;
    }>();
    const before = findFiles(tree).map(String).sort();

    const r = await run(
      ['conductor', 'execute', String(plan.id), '--force', '--catalog', cat],
      'gone',
    );
    expect(r.stderr).not.toMatch(TRACE);
    expect(r.code).toBe(130);
    const status = () =>
      readCatalog(cat, (db) =>
        db.prepare('SELECT status FROM conductor_plans WHERE id = ?').pluck().get(plan.id),
      );
    expect(status()).toBe('interrupted');
    expect(findFiles(tree).map(String).sort()).toEqual(before);
    for (const [rel, content] of pairs) {
      expect(readFileSync(join(tree, rel)).equals(content)).toBe(true);
    }

    const again = hashall(['conductor', 'execute', String(plan.id), '--force', '--catalog', cat]);
    expect(again.code, again.stderr).toBe(0);
    expect(status()).toBe('executed');
    expect(findFiles(tree).map(String).sort()).toEqual(before);
    for (const [rel, content] of pairs) {
      const i = /^a\/(\d+)\.bin$/.exec(rel)![1]!;
      const copy = join(tree, `b/${Number(i) % 7}/${i}.copy`);
      expect(lstatSync(copy).ino).toBe(lstatSync(join(tree, rel)).ino);
      expect(readFileSync(copy).equals(content)).toBe(true);
    }
  });

  it('a redirection onto a full disk: one line on stderr, exit 1', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const line =
        'hashall: error: cannot write to standard output: ENOSPC (no space left on device)\n';
      // Said once: by the guard for a command that writes as it goes, by the command's own
      // error for one that writes through its output (dupes, export, report).
      for (const args of [
        ['stats', '--catalog', cat],
        ['dupes', '--catalog', cat],
        ['export', '--format', 'csv', '--out', '-', '--catalog', cat],
      ]) {
        const r = await run(args, full);
        expect({ args, ...r }).toEqual({ args, code: 1, stderr: line });
      }
    } finally {
      closeSync(full);
    }
  });
});
