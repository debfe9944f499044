// RESULTS.md: the Markdown report of one run (machine, trees, timings, targets, checks).

import path from 'node:path';
import { checks } from './checks.mjs';
import { REPO } from './config.mjs';
import { fmtInt, fmtMiB, fmtS, mdCell, mdCode } from './util.mjs';

const verdict = (pass) =>
  pass === true ? '**PASS**' : pass === false ? '**FAIL**' : 'not measured';

function timingRows(cmds) {
  const rows = [];
  for (const c of cmds) {
    if (c.missing) {
      rows.push(
        `| ${mdCell(c.label)} | ${mdCode(c.shown)} | **MISSING** | | | | | ${mdCell(c.missing)} |`,
      );
      continue;
    }
    const s = c.stats;
    const exits = s.exits.every((e) => e === 0) ? '0' : `**${s.exits.join(', ')}**`;
    const parts = s.parts.map((p) => `${p.name} ${fmtS(p.median)}`).join(' + ');
    if (s.lowerBound != null) {
      rows.push(
        `| ${mdCell(c.label)} | ${mdCode(c.shown)} | **> ${fmtS(s.lowerBound)}** (cut off) | | | ` +
          `${fmtMiB(s.rssMaxKiB)} | ${exits} | ${mdCell(s.notes.join('; '))} |`,
      );
      continue;
    }
    rows.push(
      `| ${mdCell(c.label)} | ${mdCode(c.shown)} | ${fmtS(s.median)} | ${fmtS(s.min)}–${fmtS(s.max)} | ` +
        `${fmtS(s.cpuMedian)} | ${fmtMiB(s.rssMaxKiB)} | ${exits} | ${mdCell(parts)} |`,
    );
  }
  return rows;
}

/**
 * With --baseline: each hashall row beside the baseline's same row, as this build's median
 * over the baseline's (below 1 is faster), with per-part ratios.
 */
export function baselinePairs(cmds) {
  const by = new Map(cmds.map((c) => [c.id, c]));
  const pairs = [];
  for (const c of cmds) {
    if (!c.id.startsWith('hashall-')) continue;
    const b = by.get(c.id.replace(/^hashall-/, 'baseline-'));
    if (!b) continue;
    const ok = (x) => x.stats && x.stats.lowerBound == null;
    const ratio = ok(c) && ok(b) ? c.stats.median / b.stats.median : null;
    const parts =
      ok(c) && ok(b)
        ? c.stats.parts.map((p, i) => ({
            name: p.name,
            ratio: p.median / (b.stats.parts[i]?.median ?? NaN),
          }))
        : [];
    pairs.push({ label: c.label, now: c, base: b, ratio, parts });
  }
  return pairs;
}

function baselineSection(r) {
  if (!r.baseline) return [];
  const L = [
    `## Against the baseline (${mdCode(r.baseline.ref)} = ${r.baseline.sha.slice(0, 12)})`,
    '',
    'The same rows run by both builds in the same rounds (interleaved). Ratio = this build ÷ ' +
      'the baseline, on medians; below 1.00 is faster.',
    '',
    '| row | this build s | baseline s | ratio | parts |',
    '|---|---:|---:|---:|---|',
  ];
  for (const p of baselinePairs(r.cmds)) {
    const parts = p.parts.map((x) => `${x.name} ${x.ratio.toFixed(2)}`).join(', ');
    L.push(
      `| ${mdCell(p.label)} | ${p.now.stats ? fmtS(p.now.stats.median) : 'n/a'} | ` +
        `${p.base.stats ? fmtS(p.base.stats.median) : 'n/a'} | ` +
        `${p.ratio == null ? 'n/a' : p.ratio.toFixed(2)} | ${mdCell(parts)} |`,
    );
  }
  L.push('');
  return L;
}

function checkRows() {
  const rows = [];
  for (const c of checks.values()) {
    const res =
      c.failures === 0
        ? 'ok'
        : c.severity === 'info'
          ? 'differs (info)'
          : c.severity === 'peer'
            ? '**MISMATCH (peer)**'
            : '**MISMATCH**';
    rows.push(
      `| ${mdCell(c.command)} | ${mdCell(c.what)} | ${mdCell(fmtInt(c.expected))} | ` +
        `${mdCell(c.observed.map(fmtInt).join(' / '))} | ${c.failures ? `${c.failures}/${c.runs}` : c.runs} | ${res} |`,
    );
  }
  return rows;
}

function treeRow(tree) {
  const S = tree.summary;
  return (
    `| ${tree.spec.name} | ${mdCode(`mktree.py DIR ${tree.args.join(' ')}`)} | ${fmtInt(S.regular_file_paths)} | ` +
    `${fmtInt(S.distinct_inodes)} | ${fmtInt(S.bytes_distinct_inodes)} | ${fmtInt(S.dup_groups_by_inode)} | ` +
    `${fmtInt(S.hardlink_dedupe_saving_bytes)} |`
  );
}

const TIMING_HEAD = [
  '| row | command | median s | min–max s | CPU s | peak RSS MiB | exit | parts (median s) / notes |',
  '|---|---|---:|---:|---:|---:|---|---|',
];

/** The warnings at the top: wrong figures, cut-off rows, missing peers. */
function warnings(r) {
  const L = [];
  const bad = r.problems.filter((p) => p.severity !== 'peer');
  if (bad.length) {
    L.push('## ⚠ MISMATCHES (hashall or benchmark setup)', '');
    for (const p of bad) L.push(`- **${p.severity}**: ${mdCell(p.text)}`);
    L.push('');
  }
  if (r.timeouts.length) {
    L.push('## ⚠ Cut off by --timeout', '');
    for (const t of [...new Set(r.timeouts)]) L.push(`- ${t}`);
    L.push('');
  }
  if (r.missing.length) {
    L.push('## ⚠ Missing peers', '');
    for (const m of r.missing) L.push(`- ${mdCell(m)}`);
    L.push('');
  }
  return L;
}

function machineTable(m) {
  const L = ['## Machine', '', '| | |', '|---|---|'];
  L.push(
    `| CPU | ${mdCell(m.cpu)} |`,
    `| nproc | ${m.nproc} |`,
    `| memory | ${m.memory_gib} GiB |`,
  );
  L.push(
    `| kernel | ${mdCell(m.kernel)} |`,
    `| filesystem (bench/.cache) | ${mdCell(m.filesystem)} |`,
  );
  L.push(
    `| load average (1/5/15 min) at start; at end | ${m.load_average_at_start.join(' / ')}; ${m.load_average_at_end.join(' / ')} |`,
  );
  L.push(
    `| node | ${m.node} |`,
    `| python3 | ${mdCell(m.python)} |`,
    `| GNU time | ${mdCell(m.gnu_time)} |`,
  );
  L.push(`| hashall | ${mdCell(m.hashall)} |`);
  for (const [k, v] of Object.entries(m.peers)) L.push(`| ${k} | ${mdCell(v)} |`);
  L.push('');
  return L;
}

export function renderMarkdown(r) {
  const L = [];
  L.push('# hashall benchmark results', '');
  L.push(
    `Generated by \`node bench/run.mjs${r.argv.length ? ' ' + r.argv.join(' ') : ''}\` on ${r.date} ` +
      `(total ${(r.elapsed_s / 60).toFixed(1)} min). Warm page cache; ${r.runs} timed run(s) per command ` +
      'after one warm-up, interleaved across commands (A B C … A B C …); --timeout ' +
      `${r.timeout} s per row. How to read it: \`bench/README.md\`.`,
    '',
  );
  if (r.copyStats.copies)
    L.push(
      `Untimed setup: ${r.copyStats.copies} fresh copies of T (\`cp -a\` + \`sync\`) took ` +
        `${r.copyStats.seconds.toFixed(1)} s; deleting them at the end took ${r.copyStats.deleteSeconds.toFixed(1)} s.`,
      '',
    );
  const busy = r.machine.load_average_at_start[0];
  if (busy >= 0.5 * r.machine.nproc)
    L.push(
      `> **Busy machine:** the 1-minute load average was ${busy} on ${r.machine.nproc} CPUs when the run ` +
        'started, so other processes competed for the CPUs: absolute times are inflated and noisier, ' +
        'ratios less so (all rows shared the same conditions, interleaved).',
      '',
    );
  if (r.quick)
    L.push(
      '> **Quick smoke run** on a small tree: the ratios are not the design-target measurement.',
      '',
    );
  L.push(...warnings(r), ...machineTable(r.machine));
  L.push('## Trees', '');
  L.push(
    '| tree | generator | regular paths | distinct inodes | bytes on distinct inodes | dup groups by inode | hardlink_dedupe_saving_bytes |',
    '|---|---|---:|---:|---:|---:|---:|',
  );
  for (const t of r.treesUsed) L.push(treeRow(t));
  L.push('');
  L.push(
    `## Timings: ${r.tree.spec.name} tree (T = ${mdCode(path.relative(REPO, r.tree.dir))})`,
    '',
  );
  L.push(
    'Wall seconds. CPU = user + system seconds (median). Peak RSS = the largest over all runs, warm-up included ' +
      '(for a two-command row, the larger of the two processes). COPY = a fresh `cp -a` of T, made and scanned untimed.',
    '',
  );
  L.push(...TIMING_HEAD, ...timingRows(r.cmds));
  if (r.million) {
    L.push(
      '',
      `### 1,000,000-file tree (T1M = ${mdCode(path.relative(REPO, r.millionTree.dir))})`,
      '',
    );
    L.push(...TIMING_HEAD, ...timingRows(r.million));
  }
  L.push('');
  L.push(...baselineSection(r));
  L.push('## Targets (DESIGN.md §6)', '');
  L.push('| # | what | ratio / value | target | result | note |', '|---|---|---:|---|---|---|');
  for (const t of r.targets)
    L.push(
      `| ${t.id} | ${mdCell(t.what)} | ${mdCell(t.shown)} | ${t.limit} | ${verdict(t.pass)} | ${mdCell(t.note)} |`,
    );
  L.push('');
  L.push('## Correctness checks', '');
  L.push(
    'Every check ran on every run, warm-up included, unless that run was cut off by --timeout; "runs" = how many ' +
      'times (failures/runs on a mismatch). Expected figures come from the generator summary and from ' +
      '`find -printf "%i %s"` before/after.',
    '',
  );
  L.push('| row | check | expected | measured | runs | result |', '|---|---|---:|---:|---:|---|');
  L.push(...checkRows());
  const peerBad = r.problems.filter((p) => p.severity === 'peer');
  if (peerBad.length) {
    L.push(
      '',
      'Peer figures that differ from the generator (reported, not a hashall failure):',
      '',
    );
    for (const p of peerBad) L.push(`- ${mdCell(p.text)}`);
  }
  L.push('');
  return L.join('\n');
}
