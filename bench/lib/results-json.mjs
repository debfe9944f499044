// results.json: the raw per-run data of one run, in the repository's prettier style.

import fs from 'node:fs';
import path from 'node:path';
import { checks } from './checks.mjs';
import { baselinePairs } from './report.mjs';
import { REPO } from './config.mjs';

async function writeJson(file, data) {
  let text = JSON.stringify(data, null, 2) + '\n';
  try {
    // Keep the committed file in the repository's prettier style when prettier is installed.
    const prettier = await import('prettier');
    const cfg = (await prettier.resolveConfig(file)) ?? {};
    text = await prettier.format(text, { ...cfg, filepath: file });
  } catch {
    // prettier not available: plain JSON is fine
  }
  fs.writeFileSync(file, text);
}

function cmdJson(c) {
  const run1 = (m) => ({
    wall_s: m.wall,
    cpu_s: m.cpu,
    rss_kib: m.rssKiB,
    exit: m.status,
    pieces: m.pieces.map((p) => ({
      name: p.name,
      wall_s: p.wall,
      cpu_s: p.cpu,
      rss_kib: p.rssKiB,
    })),
  });
  const num = (x) => (Number.isFinite(x) ? x : null);
  return {
    id: c.id,
    group: c.group,
    label: c.label,
    command: c.shown,
    missing: c.missing ?? null,
    median_s: num(c.stats?.median),
    min_s: num(c.stats?.min),
    max_s: num(c.stats?.max),
    cut_off_after_s: c.stats?.lowerBound ?? null,
    cpu_median_s: num(c.stats?.cpuMedian),
    peak_rss_kib: c.stats?.rssMaxKiB ?? null,
    exit_codes: c.stats?.exits ?? null,
    parts_median_s: Object.fromEntries((c.stats?.parts ?? []).map((p) => [p.name, p.median])),
    notes: c.stats?.notes ?? [],
    warmup: c.warmup ? run1(c.warmup) : null,
    runs: (c.runs ?? []).map(run1),
    cut_off_run: c.cutOff ? { round: c.cutOff.round, ...run1(c.cutOff) } : null,
  };
}

function treeJson(t) {
  const flat = Object.entries(t.summary).filter(([, v]) => typeof v !== 'object');
  return {
    name: t.spec.name,
    dir: path.relative(REPO, t.dir),
    mktree_args: t.args,
    summary: Object.fromEntries(flat),
  };
}

/** Write results.json from the result object main() builds. */
export async function writeResultsJson(file, r) {
  await writeJson(file, {
    date: r.date,
    argv: r.argv,
    quick: r.quick,
    runs: r.runs,
    timeout_s: r.timeout,
    elapsed_s: r.elapsed_s,
    untimed_copies: {
      count: r.copyStats.copies,
      copy_and_sync_s: r.copyStats.seconds,
      delete_and_sync_s: r.copyStats.deleteSeconds,
    },
    machine: r.machine,
    trees: r.treesUsed.map(treeJson),
    commands: r.cmds.map(cmdJson),
    baseline: r.baseline
      ? {
          ref: r.baseline.ref,
          sha: r.baseline.sha,
          ratios: baselinePairs(r.cmds).map((p) => ({
            row: p.now.id,
            ratio: p.ratio,
            parts: p.parts,
          })),
        }
      : null,
    million: r.million ? r.million.map(cmdJson) : null,
    targets: r.targets,
    checks: [...checks.values()],
    problems: r.problems,
    timeouts: [...new Set(r.timeouts)],
    missing_peers: r.missing,
  });
}
