// Row "hashall first scan (1M files)" (--million): time and peak RSS of one big scan (T5b).

import path from 'node:path';
import { WORK } from '../lib/config.mjs';
import { timeScan, untimedAnalyze } from '../lib/hashall.mjs';
import { runRounds } from '../lib/measure.mjs';
import { log, rmCatalog } from '../lib/util.mjs';

export async function runMillion(tree, runs, limitS) {
  const db = path.join(WORK, 'million.db');
  const c = {
    id: 'hashall-scan-1M',
    group: 'hashall',
    label: 'hashall first scan (1M files)',
    shown: 'hashall scan T1M --catalog NEW.db',
    run(row, { warm }) {
      rmCatalog(db);
      const { piece } = timeScan(row, this.id, { tree, db });
      if (piece.timedOut) return;
      if (warm) {
        log('  checking analyze on the 1M catalog (untimed) ...');
        untimedAnalyze(this.id, db, tree);
      }
      rmCatalog(db);
    },
  };
  await runRounds([c], runs, '1M-file tree', limitS);
  return c;
}
