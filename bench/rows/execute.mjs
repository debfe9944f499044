// Row "hashall plan + execute --force (fresh copy)": the conductor deduplicating a fresh copy
// of T, checked on disk and, in the warm-up round, by content (T4).

import path from 'node:path';
import { check, noteTimeout, parseJson, statusCheck } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import { checkFreed, checkedCopy } from '../lib/copies.mjs';
import { current, hashallArgv, hx, untimedScan } from '../lib/hashall.mjs';
import { verifyDeduped } from '../lib/trees.mjs';
import { fmtInt, rmCatalog, rmrf } from '../lib/util.mjs';

/** How far a cut-off execute got, from the JSON it printed (if any). */
function executeProgress(piece, planJson) {
  const planned = fmtInt(planJson.actions?.HARDLINK);
  try {
    const ej = JSON.parse(piece.stdout);
    return `${fmtInt(ej.executed)} of ${planned} HARDLINK actions done, ${fmtInt(ej.bytes_saved)} B freed`;
  } catch {
    return `${planned} HARDLINK actions planned`;
  }
}

export function executeRow(tree, build = current) {
  const db = path.join(WORK, `${build.key}-dedupe.db`);
  const S = tree.summary;
  const expected = S.hardlink_dedupe_saving_bytes;
  return {
    id: `${build.key}-dedupe`,
    group: 'hashall',
    label: `${build.title} plan + execute --force (fresh copy)`,
    shown:
      'hashall conductor plan NAME --catalog C.db; hashall conductor execute ID --force --catalog C.db',
    run(row, { warm, round }) {
      const id = this.id;
      const { copy, before } = checkedCopy(id, tree);
      rmCatalog(db);
      try {
        untimedScan(id, 'untimed scan of the copy', copy, db, tree, build);
        const planArgs = ['conductor', 'plan', `bench-${round}`, '--catalog', db, '--json'];
        const p = row.time('plan', hashallArgv(planArgs, build), hx());
        statusCheck(id, p, 'hashall');
        if (p.timedOut) return noteTimeout(id, row);
        const pj = parseJson(id, p);
        if (!pj) return;
        check(
          id,
          'plan bytes_saveable = hardlink_dedupe_saving_bytes',
          expected,
          pj.bytes_saveable,
          'hashall',
        );
        const exArgs = [
          'conductor',
          'execute',
          String(pj.id),
          '--force',
          '--catalog',
          db,
          '--json',
        ];
        const e = row.time('execute', hashallArgv(exArgs, build), hx());
        statusCheck(id, e, 'hashall');
        if (e.timedOut) return noteTimeout(id, row, executeProgress(e, pj));
        const ej = parseJson(id, e);
        if (ej) {
          check(
            id,
            'execute bytes_saved = hardlink_dedupe_saving_bytes',
            expected,
            ej.bytes_saved,
            'hashall',
          );
          check(id, 'execute failed', 0, ej.failed, 'hashall');
          check(id, 'execute status', 'executed', ej.status, 'hashall');
        }
        const after = checkFreed(id, { copy, before, expected, severity: 'hashall' });
        check(id, 'apparent bytes unchanged', before.bytesApparent, after.bytesApparent, 'hashall');
        if (warm) verifyDeduped(id, copy, S, 'hashall');
      } finally {
        rmCatalog(db);
        rmrf(path.join(WORK, 'logs'));
      }
    },
  };
}
