// Rows "hashall rescan + analyze": a catalog that already holds T, scanned once untimed (T2),
// rescanned and analyzed by two commands, and by one (`conductor analyze --rescan`).

import path from 'node:path';
import { check } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import {
  checkUnchangedRescan,
  current,
  timeAnalyzeRescan,
  timeScanAndAnalyze,
  untimedScan,
} from '../lib/hashall.mjs';
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

/**
 * Row "hashall analyze --rescan": the same look in one command (`conductor analyze --rescan`
 * rescans the catalogued roots, then analyzes, in one process), on a catalog of its own that
 * already holds T. Checked as the two-command row: the rescan part of its JSON records nothing,
 * and the analysis finds exactly the generator's figures. The current build only: a baseline
 * from before the option has no such command.
 */
export function rescanOneRow(tree) {
  const db = path.join(WORK, `${current.key}-rescan-one.db`);
  let ready = false;
  return {
    id: `${current.key}-rescan-one`,
    group: 'hashall',
    label: `${current.title} analyze --rescan (rescan + analyze, one command)`,
    shown: 'hashall conductor analyze --rescan --catalog SCANNED.db',
    run(row) {
      const id = this.id;
      if (!ready) {
        rmCatalog(db);
        untimedScan(id, 'initial (untimed) scan', tree.dir, db, tree);
        ready = true;
      }
      timeAnalyzeRescan(row, id, { tree, db });
    },
  };
}
