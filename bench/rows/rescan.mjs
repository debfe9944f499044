// Row "hashall rescan + analyze": a catalog that already holds T, scanned once untimed (T2).

import path from 'node:path';
import { check } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import { checkUnchangedRescan, current, timeScanAndAnalyze, untimedScan } from '../lib/hashall.mjs';
import { rmCatalog } from '../lib/util.mjs';

export function rescanRow(tree, build = current) {
  const db = path.join(WORK, `${build.key}-rescan.db`);
  let ready = false;
  return {
    id: `${build.key}-rescan`,
    group: 'hashall',
    label: `${build.title} rescan + analyze`,
    shown: 'hashall scan T --catalog SCANNED.db; hashall conductor analyze --catalog SCANNED.db',
    run(row) {
      const id = this.id;
      if (!ready) {
        rmCatalog(db);
        untimedScan(id, 'initial (untimed) scan', tree.dir, db, tree, build);
        ready = true;
      }
      // Nothing changed since the last scan: nothing to record, nothing to hash.
      const onScan = (j) => {
        checkUnchangedRescan(id, tree, j);
        check(id, 'rescan: hashed_files', 0, j.hashed_files, 'hashall');
      };
      timeScanAndAnalyze(row, id, { tree, db, scanName: 'rescan', onScan, build });
    },
  };
}
