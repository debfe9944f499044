// Rows of the 1,000,000-file tree (--million): the first scan (time and peak RSS: T5b, T6a),
// then the unchanged rescan + analyze of the catalog that scan made (T6b), and the metadata
// walk's floor on this tree (`find`: what no rescan can go below, beside T6b's fixed limit).

import path from 'node:path';
import { check } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import {
  checkUnchangedRescan,
  timeScan,
  timeScanAndAnalyze,
  untimedAnalyze,
} from '../lib/hashall.mjs';
import { runRounds } from '../lib/measure.mjs';
import { rmCatalog } from '../lib/util.mjs';
import { floorRows } from './floors.mjs';

export async function runMillion(tree, runs, limitS) {
  const db = path.join(WORK, 'million.db');
  const rescan = {
    id: 'hashall-rescan-1M',
    group: 'hashall',
    label: 'hashall rescan + analyze (1M files)',
    shown: 'hashall scan T1M --catalog SCANNED.db; hashall conductor analyze --catalog SCANNED.db',
    run(row) {
      const id = this.id;
      // As the reference tree's rescan row: nothing changed since the scan before.
      const onScan = (j) => {
        checkUnchangedRescan(id, tree, j);
        check(id, 'rescan: hashed_files', 0, j.hashed_files, 'hashall');
      };
      timeScanAndAnalyze(row, id, { tree, db, scanName: 'rescan', onScan });
      rmCatalog(db);
    },
  };
  const first = {
    id: 'hashall-scan-1M',
    group: 'hashall',
    label: 'hashall first scan (1M files)',
    shown: 'hashall scan T1M --catalog NEW.db',
    run(row) {
      rmCatalog(db);
      const { piece, json } = timeScan(row, this.id, { tree, db });
      // The rescan row of this round times the catalog this scan made; without it, none.
      if (piece.timedOut || !json) {
        rescan.missing = 'the first scan of the 1M tree did not finish';
        return;
      }
      // Checks the figures, and gives the stored totals their first rows (the fold a first
      // analyze does), so that the rescan row times what a user's every later rescan costs.
      untimedAnalyze(this.id, db, tree);
    },
  };
  const find = {
    ...floorRows(tree).find((r) => r.id === 'floor-find'),
    id: 'floor-find-1M',
    label: 'floor: metadata walk (1M files)',
    shown: "find T1M -type f -printf '%s %i\\n'",
  };
  await runRounds([first, rescan, find], runs, '1M-file tree', limitS);
  return [first, rescan, find];
}
