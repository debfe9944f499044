// The machine, tools and build a run measured, for the report.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { CACHE, GNU_TIME, REPO } from './config.mjs';
import { PEERS } from './peers.mjs';
import { ANSI, firstLine, run } from './util.mjs';

const dpkg = (p) => run('dpkg-query', ['-W', '-f', '${Version}', p]).stdout?.trim() || '';

/** One line per peer: its --version, where it came from, or why it is missing. */
function peerVersions(peerInfo) {
  const peers = {};
  for (const p of PEERS) {
    const i = peerInfo[p.bin];
    if (!i.path) {
      peers[p.bin] = `MISSING (${i.error})`;
      continue;
    }
    const v = run(i.path, p.version);
    const line = firstLine(v.stdout || v.stderr).replace(ANSI, '');
    const d = p.from.kind === 'apt' ? dpkg(p.from.pkg) : '';
    const from = p.from.kind === 'apt' ? (d ? ` (dpkg ${d})` : '') : ` (cargo, ${i.path})`;
    peers[p.bin] = `${line}${from}${i.installed ? ', installed by this run' : ''}`;
  }
  return peers;
}

export function machineInfo(pyVersion, peerInfo, build) {
  const meminfo = fs.readFileSync('/proc/meminfo', 'utf8');
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? NaN);
  const df = run('df', ['--output=fstype,source', CACHE]).stdout.trim().split('\n')[1] ?? '';
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const git = run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']).stdout?.trim() || 'unknown';
  const dirty =
    (run('git', ['-C', REPO, 'status', '--porcelain', '--', 'src']).stdout ?? '').trim() !== '';
  const timeV = dpkg('time');
  return {
    cpu: `${os.cpus()[0]?.model ?? 'unknown'}`,
    nproc: Number(run('nproc', []).stdout?.trim() || os.availableParallelism()),
    memory_gib: +(memKiB / 1024 / 1024).toFixed(1),
    kernel: run('uname', ['-srm']).stdout?.trim() || `${os.type()} ${os.release()}`,
    filesystem: df.trim().replace(/\s+/g, ' on '),
    load_average_at_end: os.loadavg().map((x) => +x.toFixed(2)),
    node: process.version,
    python: pyVersion,
    gnu_time: `${GNU_TIME}${timeV ? ` (dpkg ${timeV})` : ''}`,
    hashall:
      `${pkg.version}${build.version !== pkg.version ? ` (--version says ${build.version})` : ''}, git ${git}${dirty ? ' + uncommitted changes in src/' : ''}; ` +
      `dist/ snapshot taken at start: built ${build.builtAt}, sha256 ${build.digest}` +
      (build.changedDuringRun
        ? ' (dist/ was rebuilt during the run; the snapshot was measured)'
        : ''),
    peers: peerVersions(peerInfo),
  };
}
