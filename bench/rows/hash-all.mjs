// Row "hashall scan --hash all": every file hashed into a new catalog (T3).

import path from 'node:path';
import { check } from '../lib/checks.mjs';
import { WORK } from '../lib/config.mjs';
import { current, timeScan, untimedAnalyze } from '../lib/hashall.mjs';
import { rmCatalog } from '../lib/util.mjs';

export function hashAllRow(tree, build = current) {
  const db = path.join(WORK, `${build.key}-hash-all.db`);
  return {
    id: `${build.key}-hash-all`,
    group: 'hashall',
    label: `${build.title} scan --hash all`,
    shown: 'hashall scan T --hash all --catalog NEW.db',
    run(row, { warm }) {
      rmCatalog(db);
      const extra = ['--hash', 'all'];
      const scan = { tree, db, name: 'scan --hash all', extra, build };
      const { piece, json } = timeScan(row, this.id, scan);
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
      if (warm) untimedAnalyze(this.id, db, tree, build);
    },
  };
}
