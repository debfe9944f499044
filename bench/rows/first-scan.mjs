// Row "hashall first scan + analyze": a new catalog each run (T1).

import path from 'node:path';
import { WORK } from '../lib/config.mjs';
import { current, timeScanAndAnalyze } from '../lib/hashall.mjs';
import { rmCatalog } from '../lib/util.mjs';

export function firstScanRow(tree, build = current) {
  const db = path.join(WORK, `${build.key}-first.db`);
  return {
    id: `${build.key}-first`,
    group: 'hashall',
    label: `${build.title} first scan + analyze`,
    shown: 'hashall scan T --catalog NEW.db; hashall conductor analyze --catalog NEW.db',
    run(row) {
      rmCatalog(db);
      timeScanAndAnalyze(row, this.id, { tree, db, scanName: 'scan', build });
    },
  };
}
