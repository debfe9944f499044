/** Plan renderers shared by plan, show-plan and execute: counts by type, hashes, warnings. */
import type { ActionCount } from '../../catalog/plan-port.js';
import type { Mode } from '../../conductor/mode.js';
import { countOf } from '../../format.js';
import type { Style } from '../style.js';

export function hex(b: Buffer | null, n = 12): string {
  return b ? `${b.toString('hex').slice(0, n)}...` : '(hardlinks)';
}

export function countsJson(counts: readonly ActionCount[]): Record<string, number> {
  const out: Record<string, number> = { HARDLINK: 0, NOOP: 0, SKIP: 0 };
  for (const c of counts) out[c.type] = (out[c.type] ?? 0) + c.n;
  return out;
}

/** Counts by type as users see them: a reflink plan has REFLINK actions, not HARDLINK ones. */
export function countsFor(mode: Mode, byType: Record<string, number>): Record<string, number> {
  if (mode === 'hardlink') return byType;
  const { HARDLINK, ...rest } = byType;
  return { REFLINK: HARDLINK ?? 0, ...rest };
}

/** The plan's warning that linked targets will show the kept copy's mtime. */
export function metadataLine(n: number, st: Style): string {
  return st.status(
    'warning',
    `Metadata: ${countOf(n, 'target')} will show the kept copy's mtime (a hardlink shares one inode's metadata)`,
  );
}
