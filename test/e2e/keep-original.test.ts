/**
 * Issue 12 §4: without --keep, a tie on links keeps the oldest copy (the original), not the
 * lexically first path; plan and show-plan say which targets will show another mtime.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { metadataChanges } from '../../src/conductor/metadata-change.js';

interface ShowJson {
  keep: string[];
  metadata_changes: number;
  actions: {
    type: string;
    source: string;
    target: string;
    keep_rule: string;
    metadata_changes: string;
  }[];
}

const T2020 = new Date('2020-06-01T12:00:00Z');
const T2026 = new Date('2026-01-15T08:30:00Z');

describe('the default keep chain keeps the original', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 't');
    cat = join(dir, 'c.db');
    writeTree(tree, {
      'photos/img.jpg': 'the same picture, twice\n'.repeat(200),
      'photos-backup/img.jpg': 'the same picture, twice\n'.repeat(200),
      'same/a.bin': 'same mtime\n'.repeat(100),
      'same/b.bin': 'same mtime\n'.repeat(100),
    });
    // The original is older; the backup's copy was written later. '-' sorts before '/', so the
    // lexically first path is the backup's.
    utimesSync(join(tree, 'photos/img.jpg'), T2020, T2020);
    utimesSync(join(tree, 'photos-backup/img.jpg'), T2026, T2026);
    utimesSync(join(tree, 'same/a.bin'), T2020, T2020);
    utimesSync(join(tree, 'same/b.bin'), T2020, T2020);
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
  });
  afterAll(() => removeTree(dir));

  it('photos/img.jpg (2020) is kept over photos-backup/img.jpg (2026), and keeps its mtime', () => {
    const plan = hashall(['conductor', 'plan', 'photos', '--catalog', cat, '--json']);
    expect(plan.code).toBe(0);
    const p = plan.json<{ id: number; keep: string[]; metadata_changes: number }>();
    expect(p.keep).toEqual(['most-linked', 'oldest']);
    // Only the photos target shows another mtime once linked; the same/ pair has equal mtimes.
    expect(p.metadata_changes).toBe(1);
    const show = hashall([
      'conductor',
      'show-plan',
      String(p.id),
      '--catalog',
      cat,
      '--json',
    ]).json<ShowJson>();
    expect(show.metadata_changes).toBe(1);
    const photo = show.actions.find((a) => a.target.includes('photos'))!;
    expect(photo.type).toBe('HARDLINK');
    expect(photo.source).toBe(join(tree, 'photos/img.jpg'));
    expect(photo.target).toBe(join(tree, 'photos-backup/img.jpg'));
    expect(photo.keep_rule).toBe('oldest');
    expect(photo.metadata_changes).toBe('mtime');
    const same = show.actions.find((a) => a.target.includes('same/'))!;
    expect(same.metadata_changes).toBe('');

    const text = hashall(['conductor', 'show-plan', String(p.id), '--catalog', cat]).stdout;
    expect(text).toMatch(/Metadata: 1 target will show the kept copy's mtime/);
    expect(text).toMatch(
      /\/photos-backup\/img\.jpg\n {6}← .*\/photos\/img\.jpg\n {4}Kept by: oldest\n {4}warning: Metadata: mtime 2026-01-15 08:30:00 UTC becomes 2020-06-01 12:00:00 UTC/,
    );
    const planText = hashall(['conductor', 'plan', 'again', '--catalog', cat]).stdout;
    expect(planText).toMatch(/Metadata: 1 target will show the kept copy's mtime/);

    const ex = hashall(['conductor', 'execute', String(p.id), '--force', '--catalog', cat]);
    expect(ex.code).toBe(0);
    // The original's path still shows the original's mtime.
    expect(statSync(join(tree, 'photos/img.jpg')).mtime.toISOString()).toBe(T2020.toISOString());
    expect(statSync(join(tree, 'photos-backup/img.jpg')).ino).toBe(
      statSync(join(tree, 'photos/img.jpg')).ino,
    );
  });
});

describe('a reflink plan', () => {
  it('counts no metadata changes: a clone keeps the target its own mtime', () => {
    const dir = tempDir();
    try {
      const tree = join(dir, 't');
      const cat = join(dir, 'c.db');
      writeTree(tree, { 'a/x': 'same\n'.repeat(100), 'b/x': 'same\n'.repeat(100) });
      utimesSync(join(tree, 'a/x'), T2020, T2020);
      utimesSync(join(tree, 'b/x'), T2026, T2026);
      expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
      const h = hashall(['conductor', 'plan', 'h', '--catalog', cat, '--json']);
      expect(h.json<{ metadata_changes: number }>().metadata_changes).toBe(1);
      const id = h.json<{ id: number }>().id;
      // No filesystem here clones (reflink plans on it plan nothing): the same actions, as a
      // reflink plan, stand for one made on btrfs or XFS.
      const db = new Database(cat);
      db.prepare(
        `UPDATE conductor_plans SET options = json_set(options, '$.mode', 'reflink') WHERE id = ?`,
      ).run(id);
      db.close();
      const show = hashall(['conductor', 'show-plan', String(id), '--catalog', cat, '--json']);
      const doc = show.json<{ metadata_changes: number; actions: ShowJson['actions'] }>();
      expect(doc.metadata_changes).toBe(0);
      expect(doc.actions.map((a) => [a.type, a.metadata_changes])).toEqual([['REFLINK', '']]);
    } finally {
      removeTree(dir);
    }
  });
});

describe('metadataChanges', () => {
  const a = { type: 'HARDLINK' as const, sourceMtimeNs: 1n, targetMtimeNs: 2n };
  it('a hardlink shows the kept mtime; a reflink clone keeps its own; NOOP and SKIP change nothing', () => {
    expect(metadataChanges('hardlink', a)).toEqual(['mtime']);
    expect(metadataChanges('hardlink', { ...a, targetMtimeNs: 1n })).toEqual([]);
    expect(metadataChanges('reflink', a)).toEqual([]);
    expect(metadataChanges('hardlink', { ...a, type: 'NOOP' })).toEqual([]);
    expect(metadataChanges('hardlink', { ...a, type: 'SKIP' })).toEqual([]);
  });
});
