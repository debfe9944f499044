/**
 * What a catalog copy refuses before it writes anything: a destination that already holds a
 * catalog's rows (merging is not copying), and a source with work in flight — a scan that is
 * running or was killed, an execute or undo whose journal still has entries. Those belong to
 * the host and process that started them, which finishes or recovers them where they are.
 */
import { UserError } from '../../errors.js';
import type { CopySide, TableInfo } from './side.js';

export interface CopyCheck {
  readonly src: CopySide;
  readonly dst: CopySide;
  readonly tables: readonly TableInfo[];
  readonly toLocation: string;
}

function text(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

async function firstRows(side: CopySide, table: TableInfo | undefined, limit = 1) {
  return table ? side.page(table, undefined, limit) : [];
}

export async function checkCopyable(c: CopyCheck): Promise<void> {
  const byName = new Map(c.tables.map((t) => [t.name, t]));
  for (const t of c.tables) {
    const n = await c.dst.count(t);
    if (n > 0) {
      throw new UserError(
        `catalog copy: ${c.toLocation} already holds a catalog (${n} rows in ${t.name}); copy into a new file or an empty database`,
      );
    }
  }
  const scans = byName.get('scans');
  if (scans) {
    const at = (name: string) => scans.columns.findIndex((col) => col.name === name);
    for (let after: ReturnType<typeof Array.prototype.slice> | undefined; ;) {
      const rows = await c.src.page(scans, after, 1000);
      if (rows.length === 0) break;
      const running = rows.find((r) => r[at('status')] === 'running');
      if (running) {
        throw new UserError(
          `catalog copy: ${c.src.location} has a scan of ${text(running[at('root')])} that is running or was killed (pid ${text(running[at('pid')])}); let it finish, or run 'hashall scan' on that directory again to close it, then copy`,
        );
      }
      after = [rows[rows.length - 1]![at('id')]];
    }
  }
  for (const [table, command] of [
    ['conductor_journal', 'execute'],
    ['conductor_undo_journal', 'undo'],
  ] as const) {
    const t = byName.get(table);
    const rows = await firstRows(c.src, t);
    if (rows.length > 0) {
      const plan = text(rows[0]![t!.columns.findIndex((col) => col.name === 'plan_id')]);
      throw new UserError(
        `catalog copy: plan ${plan} of ${c.src.location} has an interrupted ${command}; run 'hashall conductor ${command} ${plan}' on the host that ran it (it recovers first), then copy`,
      );
    }
  }
}
