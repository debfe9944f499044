// Row "hashall scan --hash all": every file hashed into a new catalog (T3).

import path from 'node:path';
import { check } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import { timeScan, untimedAnalyze } from '../lib/hashall.mjs';
import { rmCatalog } from '../lib/util.mjs';

export function hashAllRow(tree) {
  const db = path.join(WORK, 'hashall.db');
  return {
    id: 'hashall-hash-all',
    group: 'hashall',
    label: 'hashall scan --hash all',
    shown: 'hashall scan T --hash all --catalog NEW.db',
    run(row, { warm }) {
      rmCatalog(db);
      const extra = ['--hash', 'all'];
      const { piece, json } = timeScan(row, this.id, { tree, db, name: 'scan --hash all', extra });
      if (piece.timedOut) return;
      // Informational: bytes hashed against the bytes on distinct inodes.
      if (json)
        check(
          this.id,
          'hashed_bytes = bytes on distinct inodes',
          tree.summary.bytes_distinct_inodes,
          json.hashed_bytes,
          'info',
        );
      if (warm) untimedAnalyze(this.id, db, tree);
    },
  };
}
