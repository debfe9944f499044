// The peers: Debian-packaged duplicate finders (jdupes, rdfind, rmlint, fdupes), fclones
// (cargo-installed, optional), and their rows, including jdupes -L on a fresh copy.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { timeChecked } from './checks.mjs';
import { WORK } from './config.mjs';
import { checkFreed, checkedCopy } from './copies.mjs';
import { ensureTool } from './setup.mjs';
import { log, which } from './util.mjs';

/** Where a peer comes from. apt: the benchmark tries `apt-get install -y PKG` when it is
 *  missing. cargo: never installed by the benchmark (not packaged here, and it compiles for
 *  minutes); looked for on PATH and in $CARGO_HOME/bin. */
export const PEERS = [
  { bin: 'jdupes', from: { kind: 'apt', pkg: 'jdupes' }, version: ['-v'] },
  { bin: 'rdfind', from: { kind: 'apt', pkg: 'rdfind' }, version: ['--version'] },
  { bin: 'rmlint', from: { kind: 'apt', pkg: 'rmlint' }, version: ['--version'] },
  { bin: 'fdupes', from: { kind: 'apt', pkg: 'fdupes' }, version: ['--version'] },
  { bin: 'fclones', from: { kind: 'cargo', crate: 'fclones' }, version: ['--version'] },
];

function findPeer(p) {
  if (p.from.kind === 'apt') return ensureTool(p.bin, p.from.pkg);
  // `cargo install` puts binaries in $CARGO_HOME/bin, which is often not on PATH.
  const cargoBin = path.join(process.env.CARGO_HOME || path.join(os.homedir(), '.cargo'), 'bin');
  const found = which(p.bin, [cargoBin]);
  if (found) return { path: found };
  return {
    path: null,
    error:
      `not installed (not on PATH nor in ${cargoBin}); its rows are skipped. ` +
      `Install it with \`cargo install ${p.from.crate} --locked\``,
  };
}

/** Every peer's path (or why it is missing), and one line per missing peer. */
export function findPeers() {
  const peerInfo = {};
  for (const p of PEERS) peerInfo[p.bin] = findPeer(p);
  const missing = PEERS.filter((p) => !peerInfo[p.bin].path).map(
    (p) => `${p.bin}: ${peerInfo[p.bin].error}`,
  );
  for (const m of missing) log(`WARNING: peer ${m}; it is reported as missing`);
  return { peerInfo, missing };
}

/** Peers run from an empty scratch directory, so they write nothing into the tree. */
export function peerScratchDir() {
  const dir = path.join(WORK, 'peer-cwd');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function peerRows(tree, peerInfo) {
  const T = tree.dir;
  const peerCwd = peerScratchDir();
  const simple = (id, bin, args, shown) => ({
    id,
    group: 'peer',
    label: id,
    shown,
    missing: peerInfo[bin].path ? null : peerInfo[bin].error,
    run(row) {
      const argv = [peerInfo[bin].path, ...args];
      timeChecked(row, this.id, { name: bin, argv, opts: { cwd: peerCwd }, severity: 'peer' });
    },
  });
  const rmlintOut = (kind, file) => `${kind}:${path.join(WORK, file)}`;
  const jd = peerInfo.jdupes;
  return [
    simple('jdupes', 'jdupes', ['-r', '-q', T], 'jdupes -r -q T'),
    simple(
      'rdfind',
      'rdfind',
      ['-dryrun', 'true', '-makeresultsfile', 'false', T],
      'rdfind -dryrun true -makeresultsfile false T',
    ),
    // Real files, never /dev/null: rmlint replaces its output files (write + rename), which
    // turned /dev/null into a regular file for every later process on the machine.
    simple(
      'rmlint',
      'rmlint',
      [
        '-T',
        'df',
        '-o',
        rmlintOut('json', 'rmlint.json'),
        '-o',
        rmlintOut('summary', 'rmlint.txt'),
        T,
      ],
      'rmlint -T df -o json:WORK/rmlint.json -o summary:WORK/rmlint.txt T',
    ),
    simple('fdupes', 'fdupes', ['-r', '-q', T], 'fdupes -r -q T'),
    {
      id: 'jdupes-L',
      group: 'peer',
      label: 'jdupes -L (fresh copy)',
      shown: 'jdupes -r -L -q COPY',
      missing: jd.path ? null : jd.error,
      run(row) {
        const { copy, before } = checkedCopy(this.id, tree);
        const argv = [jd.path, '-r', '-L', '-q', copy];
        const opts = { cwd: peerCwd };
        if (!timeChecked(row, this.id, { name: 'jdupes -L', argv, opts, severity: 'peer' })) return;
        const expected = tree.summary.hardlink_dedupe_saving_bytes;
        checkFreed(this.id, { copy, before, expected, severity: 'peer' });
      },
    },
  ];
}
