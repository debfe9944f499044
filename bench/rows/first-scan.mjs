// Row "hashall first scan + analyze": a new catalog each run (T1).

import path from 'node:path';
import { WORK } from '../lib/config.mjs';
import { timeScanAndAnalyze } from '../lib/hashall.mjs';
import { rmCatalog } from '../lib/util.mjs';

export function firstScanRow(tree) {
  const db = path.join(WORK, 'first.db');
  return {
    id: 'hashall-first',
    group: 'hashall',
    label: 'hashall first scan + analyze',
    shown: 'hashall scan T --catalog NEW.db; hashall conductor analyze --catalog NEW.db',
    run(row) {
      rmCatalog(db);
      timeScanAndAnalyze(row, this.id, { tree, db, scanName: 'scan' });
    },
  };
}
