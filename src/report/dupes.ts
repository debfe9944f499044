/**
 * `hashall dupes` output: fdupes/fclones-like text, one JSON document, JSON Lines (one group
 * per line) or CSV (one path per row). Every format streams: a group is written as soon as it
 * is read, through the bounded, awaited Output (a slow reader slows the listing down; a reader
 * that goes away ends it).
 */
import type { DeviceRow } from '../catalog/devices.js';
import { formatBytes, formatCount } from '../format.js';
import type { DupeEntry, DupeGroup } from '../conductor/dupes.js';
import { displayPath } from '../display-path.js';
import { csvHeader, csvRow, jsonRow, pathColumns, unsignedInode, type Column } from './encode.js';
import type { Output } from './output.js';

export const DUPES_FORMATS = ['text', 'json', 'jsonl', 'csv'] as const;
export type DupesFormat = (typeof DUPES_FORMATS)[number];

export interface DupesTotals {
  groups: number;
  files: number;
  paths: number;
  bytesSaveable: number;
}

export interface DupesContext {
  readonly devices: readonly DeviceRow[];
  readonly crossDevice: boolean;
  /**
   * How the text names a device beside each path: its alias by default; `host:mountpoint` when
   * the catalog knows several hosts (device-label.ts). JSON and CSV keep the alias, an id.
   */
  readonly label?: (deviceId: number) => string;
  /** What the listing was made with, for the JSON document's head. */
  readonly head: Record<string, unknown>;
}

interface PathRow {
  readonly group: DupeGroup;
  readonly entry: DupeEntry;
  readonly device: string;
}

const hex = (b: Buffer) => b.toString('hex');

/** One path of a group. `shared`: another listed path is the same file (a hardlink). */
const PATH_COLUMNS: readonly Column<PathRow>[] = [
  { name: 'group', get: (r) => r.group.no },
  { name: 'sha256', get: (r) => hex(r.group.sha256) },
  { name: 'size', get: (r) => r.group.size },
  { name: 'files', get: (r) => r.group.files },
  { name: 'bytes_saveable', get: (r) => r.group.bytesSaveable },
  { name: 'device', get: (r) => r.device },
  { name: 'inode', get: (r) => unsignedInode(r.entry.inode) },
  { name: 'nlink', get: (r) => r.entry.nlink },
  { name: 'shared', get: (r) => r.entry.links > 1 },
  ...pathColumns<PathRow>('path', (r) => r.entry.path),
];

/** A group's own fields, and per path the columns that are not the group's. */
const MEMBER_COLUMNS = PATH_COLUMNS.slice(5);

function groupJson(g: DupeGroup, alias: (id: number) => string): string {
  const members = g.entries
    .map((e) => jsonRow(MEMBER_COLUMNS, { group: g, entry: e, device: alias(e.deviceId) }))
    .join(',');
  return (
    `{"group":${g.no},"sha256":"${hex(g.sha256)}","size":${g.size},"files":${g.files},` +
    `"paths":${g.entries.length},"devices":${g.devices},"bytes_saveable":${g.bytesSaveable},` +
    `"members":[${members}]}`
  );
}

function groupText(g: DupeGroup, alias: (id: number) => string, crossDevice: boolean): string {
  const paths = g.entries.length > g.files ? `, ${formatCount(g.entries.length)} paths` : '';
  const devices = crossDevice ? ` on ${g.devices} filesystem${g.devices === 1 ? '' : 's'}` : '';
  const lines = [
    `${hex(g.sha256).slice(0, 12)}  ${formatBytes(g.size)} × ${formatCount(g.files)} files${paths}${devices}  saves ${formatBytes(g.bytesSaveable)}`,
  ];
  for (const e of g.entries) {
    // '=' marks another name of the file on the line above: those paths already share an inode.
    const mark = e.linkIndex > 0 ? '  = ' : '    ';
    const dev = crossDevice ? `[${alias(e.deviceId)}] ` : '';
    lines.push(`${mark}${dev}${displayPath(e.path)}`);
  }
  return `${lines.join('\n')}\n\n`;
}

/** Write every group in `format`; returns the totals (also written, for text and JSON). */
export async function writeDupes(
  pages: AsyncIterable<readonly DupeGroup[]>,
  out: Output,
  format: DupesFormat,
  ctx: DupesContext,
): Promise<DupesTotals> {
  const aliases = new Map(ctx.devices.map((d) => [d.id, d.alias]));
  const alias = (id: number) => aliases.get(id) ?? String(id);
  const totals: DupesTotals = { groups: 0, files: 0, paths: 0, bytesSaveable: 0 };
  if (format === 'csv') await out.write(csvHeader(PATH_COLUMNS));
  if (format === 'json') {
    const head = JSON.stringify(ctx.head);
    await out.write(`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"groups":[`);
  }
  for await (const page of pages) {
    for (const g of page) {
      totals.groups++;
      totals.files += g.files;
      totals.paths += g.entries.length;
      totals.bytesSaveable += g.bytesSaveable;
      let text: string;
      if (format === 'text') text = groupText(g, ctx.label ?? alias, ctx.crossDevice);
      else if (format === 'csv')
        text = g.entries
          .map((e) => csvRow(PATH_COLUMNS, { group: g, entry: e, device: alias(e.deviceId) }))
          .join('');
      else if (format === 'jsonl') text = `${groupJson(g, alias)}\n`;
      else text = `${totals.groups === 1 ? '\n' : ',\n'}${groupJson(g, alias)}`;
      const p = out.write(text);
      if (p) await p;
    }
  }
  if (format === 'json') {
    await out.write(
      `${totals.groups ? '\n' : ''}],"group_count":${totals.groups},"files":${totals.files},"paths":${totals.paths},"bytes_saveable":${totals.bytesSaveable}}\n`,
    );
  }
  if (format === 'text') await out.write(`${summaryLine(totals)}\n`);
  return totals;
}

export function summaryLine(t: DupesTotals): string {
  if (t.groups === 0) return 'No duplicates.';
  return `${formatCount(t.groups)} group${t.groups === 1 ? '' : 's'} of duplicates: ${formatCount(t.files)} files${t.paths > t.files ? ` (${formatCount(t.paths)} paths; '=' marks another name of the file above)` : ''}, ${formatBytes(t.bytesSaveable)} (${formatCount(t.bytesSaveable)} bytes) in extra copies`;
}
