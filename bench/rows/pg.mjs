// Rows "hashall on PostgreSQL": the first scan + analyze and the unchanged rescan + analyze of
// the rows on SQLite (first-scan.mjs, rescan.mjs), into a PostgreSQL catalog on a throwaway
// local cluster over its Unix socket (lib/pg-cluster.mjs), in the same interleaved rounds.
// Targets P1–P3 (issue 15) compare them with the SQLite rows.

import { checkUnchangedRescan, current, timeScanAndAnalyze, untimedScan } from '../lib/hashall.mjs';

export function pgRows(tree, cluster) {
  let rescanReady = false;
  let rescanUrl;
  return [
    {
      id: 'hashall-pg-first',
      group: 'hashall',
      label: 'hashall first scan + analyze, PostgreSQL catalog',
      shown: 'hashall scan T --catalog postgresql://…/NEW; hashall conductor analyze --catalog …',
      run(row) {
        const url = cluster.freshDatabase('bench_first');
        timeScanAndAnalyze(row, this.id, { tree, db: url, scanName: 'scan', build: current });
      },
    },
    {
      id: 'hashall-pg-rescan',
      group: 'hashall',
      label: 'hashall rescan + analyze, PostgreSQL catalog',
      shown:
        'hashall scan T --catalog postgresql://…/SCANNED; hashall conductor analyze --catalog …',
      run(row) {
        const id = this.id;
        if (!rescanReady) {
          rescanUrl = cluster.freshDatabase('bench_rescan');
          untimedScan(id, 'initial (untimed) scan', tree.dir, rescanUrl, tree, current);
          rescanReady = true;
        }
        const onScan = (j) => {
          checkUnchangedRescan(id, tree, j);
        };
        timeScanAndAnalyze(row, id, {
          tree,
          db: rescanUrl,
          scanName: 'rescan',
          onScan,
          build: current,
        });
      },
    },
  ];
}
