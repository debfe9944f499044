// The physical floors: a metadata walk (find) and reading every byte once (readall.py).

import { check, timeChecked } from '../lib/checks.mjs';
import { READALL } from '../lib/config.mjs';

export function floorRows(tree) {
  const T = tree.dir;
  return [
    {
      id: 'floor-find',
      group: 'floor',
      label: 'floor: metadata walk',
      shown: "find T -type f -printf '%s %i\\n'",
      run(row) {
        timeChecked(row, this.id, {
          name: 'find',
          argv: ['find', T, '-type', 'f', '-printf', '%s %i\n'],
          severity: 'setup',
        });
      },
    },
    {
      id: 'floor-read',
      group: 'floor',
      label: 'floor: read everything',
      shown: 'find T -type f -print0 | python3 bench/readall.py',
      run(row) {
        const sh = 'find "$1" -type f -print0 | python3 "$2"';
        const a = timeChecked(row, this.id, {
          name: 'readall',
          argv: ['sh', '-c', sh, 'sh', T, READALL],
          opts: { capture: true },
          severity: 'setup',
        });
        if (!a) return;
        let j = null;
        try {
          j = JSON.parse(a.stdout);
        } catch {
          check(this.id, 'readall.py prints its summary', true, false, 'setup');
        }
        if (j)
          check(
            this.id,
            'bytes read = apparent bytes (every path once)',
            tree.summary.bytes_apparent,
            j.bytes,
            'setup',
          );
      },
    },
  ];
}
