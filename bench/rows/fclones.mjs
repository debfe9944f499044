// The fclones rows: `fclones group` as a first run, and again with its hash cache filled
// (--cache), checked against the generator (fclones is optional: cargo install fclones).

import path from 'node:path';
import process from 'node:process';
import { check, noteTimeout, statusCheck } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import { timed } from '../lib/measure.mjs';
import { peerScratchDir } from '../lib/peers.mjs';
import { run } from '../lib/util.mjs';

/**
 * fclones' text report: its header totals and its groups.
 *   # Total: 13589 B (13.6 KB) in 31 files in 14 groups
 *   # Redundant: 6819 B (6.8 KB) in 17 files
 *   49165422e775f631cca3b09124f8ee89, 6274 B (6.3 KB) * 2:
 *       /path/one
 *       /path/two
 * Returns null when the header is not there.
 */
export function parseFclonesReport(text) {
  const total = /^# Total: (\d+) B .* in (\d+) files in (\d+) groups$/m.exec(text);
  const redundant = /^# Redundant: (\d+) B .* in (\d+) files$/m.exec(text);
  if (!total || !redundant) return null;
  const groups = [];
  for (const line of text.split('\n')) {
    const g = /^[0-9a-f]+, (\d+) B .*:$/.exec(line);
    if (g) groups.push({ size: Number(g[1]), paths: [] });
    else if (line.startsWith('    ') && groups.length) groups.at(-1).paths.push(line.slice(4));
  }
  return {
    headerGroups: Number(total[3]),
    redundantBytes: Number(redundant[1]),
    groups,
  };
}

/** path -> inode of every regular file under dir (the trees here have no newline in names). */
function inodesByPath(dir) {
  const r = run('find', [dir, '-type', 'f', '-printf', '%i %p\n']);
  const m = new Map();
  for (const line of r.stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(line.slice(sp + 1), line.slice(0, sp));
  }
  return m;
}

/**
 * fclones' header counts paths: without -H it drops groups made only of hardlinks, but in a
 * group of ≥ 2 inodes every extra path is "redundant", hardlinks to a kept inode included. So
 * its Redundant figure exceeds hardlink_dedupe_saving_bytes by those links. The checks: its
 * groups are the generator's (count, and Σ (distinct inodes − 1) × size over them), and its
 * header total is Σ (paths − 1) × size over the same groups.
 */
function checkFclones(id, piece, { S, inodes }) {
  statusCheck(id, piece, 'peer');
  if (piece.timedOut) return;
  const rep = parseFclonesReport(piece.stdout);
  if (!check(id, `${piece.name} prints its report header`, true, rep !== null, 'peer')) return;
  const ino = inodes();
  let byInode = 0;
  let byPath = 0;
  for (const g of rep.groups) {
    byInode += (new Set(g.paths.map((p) => ino.get(p) ?? p)).size - 1) * g.size;
    byPath += (g.paths.length - 1) * g.size;
  }
  check(
    id,
    'fclones groups = dup_groups_by_inode',
    S.dup_groups_by_inode,
    rep.headerGroups,
    'peer',
  );
  check(
    id,
    'fclones groups: Σ (distinct inodes − 1) × size = hardlink_dedupe_saving_bytes',
    S.hardlink_dedupe_saving_bytes,
    byInode,
    'peer',
  );
  check(
    id,
    'fclones "Redundant" = Σ (paths − 1) × size of its groups (it counts hardlinked paths)',
    byPath,
    rep.redundantBytes,
    'peer',
  );
}

export function fclonesRows(tree, info) {
  const T = tree.dir;
  const missing = info.path ? null : info.error;
  const peerCwd = peerScratchDir();
  let inodeMap = null;
  const ctx = { S: tree.summary, inodes: () => (inodeMap ??= inodesByPath(T)) };
  // --cache keeps its database under $XDG_CACHE_HOME/fclones: keep it in the scratch space.
  const env = { ...process.env, XDG_CACHE_HOME: path.join(WORK, 'xdg-cache') };
  // -. (hidden files) and -A (no .gitignore rules): every regular file, like the other peers.
  const argv = (extra) => [info.path, 'group', '-.', '-A', ...extra, T];
  const opts = { cwd: peerCwd, capture: true, env };
  let cacheReady = false;
  return [
    {
      id: 'fclones',
      group: 'peer',
      label: 'fclones',
      shown: 'fclones group -. -A T',
      missing,
      run(row) {
        checkFclones(this.id, row.time('fclones', argv([]), opts), ctx);
        if (row.timedOut) noteTimeout(this.id, row);
      },
    },
    {
      id: 'fclones-cache',
      group: 'peer',
      label: 'fclones --cache (hashes cached)',
      shown: 'fclones group -. -A --cache T (cache filled by one untimed run)',
      missing,
      run(row) {
        if (!cacheReady) {
          const p = timed('fclones --cache (untimed, fills the cache)', argv(['--cache']), opts);
          checkFclones(this.id, p, ctx);
          cacheReady = true;
        }
        checkFclones(this.id, row.time('fclones --cache', argv(['--cache']), opts), ctx);
        if (row.timedOut) noteTimeout(this.id, row);
      },
    },
  ];
}
