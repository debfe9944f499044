/**
 * A filesystem mounted read-only as a whole and writable through a bind mount of one of its
 * directories (a NAS exporting a share writable inside a read-only volume): execute must link
 * through the writable mount. It took the mount that shows the most of the filesystem, the
 * read-only one, and every link failed with EROFS. Requires mount permission (root); skipped
 * with the reason elsewhere, required in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { bindMount, mountTmpfs, requireMounts, sh, unmountAll } from '../helpers/mounts.js';

describe('execute through a writable bind of a read-only filesystem', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('links through the writable mount, and a path only the read-only mount shows fails with EROFS', (ctx) => {
    requireMounts(ctx);
    const whole = join(dir, 'volume');
    mountTmpfs(whole);
    writeTree(whole, {
      'share/a.bin': 'same bytes',
      'share/sub/b.bin': 'same bytes',
      'archive/c.bin': 'archived',
      'archive/d.bin': 'archived',
    });
    const share = join(dir, 'share');
    bindMount(join(whole, 'share'), share);
    // Read-only as a whole; the bind keeps its own (writable) flag.
    sh('mount', ['-o', 'remount,ro,bind', whole]);
    const cat = join(dir, 'c.db');
    // Both directories catalogued: the share through its writable bind, the archive through
    // the read-only mount (the only one that shows it).
    for (const root of [share, join(whole, 'archive')]) {
      const s = hashall(['scan', root, '--catalog', cat, '--json']);
      expect(s.stderr).toBe('');
      expect(s.code).toBe(0);
    }
    const plan = hashall(['conductor', 'plan', 'p', '--catalog', cat, '--json']).json<{
      id: number;
    }>();
    const r = hashall([
      'conductor',
      'execute',
      String(plan.id),
      '--force',
      '--catalog',
      cat,
      '--json',
    ]);
    const out = r.json<{ executed: number; failed: number; failures: { error: string }[] }>();
    expect(out.executed).toBe(1);
    // The archive has no writable mount: refused by the kernel, reported, nothing lost.
    expect(out.failed).toBe(1);
    expect(out.failures[0]!.error).toMatch(/EROFS|read-only/i);
    const shareReal = realpathSync(share);
    expect(statSync(join(shareReal, 'a.bin')).ino).toBe(
      statSync(join(shareReal, 'sub', 'b.bin')).ino,
    );
    expect(statSync(join(whole, 'archive', 'c.bin')).ino).not.toBe(
      statSync(join(whole, 'archive', 'd.bin')).ino,
    );
  });
});
