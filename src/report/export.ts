/**
 * `hashall export`: every active file of the catalog, streamed as JSON Lines or RFC 4180 CSV.
 * The rows come from the catalog a page at a time and leave through a bounded output buffer,
 * so millions of files take the memory of a few pages.
 */
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import type { ExportFileRow } from '../catalog/file-export.js';
import { visiblePathMapper } from '../conductor/visible-path.js';
import { deviceLabel, shownMount, type HostView } from '../device-label.js';
import { joinPath } from '../paths.js';
import {
  csvHeader,
  csvRow,
  isoFromNs,
  jsonRow,
  pathColumns,
  unsignedInode,
  type Column,
} from './encode.js';
import type { Output } from './output.js';

export const EXPORT_FORMATS = ['json', 'jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * A device as the rows name it (README "Several hosts"): where this host mounts it, else
 * where a host saw it last, and which host that is.
 */
interface ExportDevice {
  readonly row: DeviceRow;
  readonly mountPoint: Buffer;
  readonly host: { readonly hostname: string; readonly machineId: string } | undefined;
  /** `nas1:/pool` once the catalog knows several hosts, else the mount point (as `devices`). */
  readonly label: string;
}

function exportDevice(d: DeviceRow, view: HostView): ExportDevice {
  const m = shownMount(d, view);
  return {
    row: d,
    mountPoint: m?.mountPoint ?? d.mountPoint,
    host: m,
    label: deviceLabel(d, view),
  };
}

interface ExportRow {
  readonly file: ExportFileRow;
  readonly device: ExportDevice | undefined;
  readonly fsPath: Buffer;
  readonly path: Buffer;
}

/**
 * One row per file. `mtime_ns` is a string of digits: nanoseconds since 1970 exceed what most
 * JSON parsers hold exactly in a number. `inode` is an exact JSON number.
 */
export const EXPORT_COLUMNS: readonly Column<ExportRow>[] = [
  { name: 'device_id', get: (r) => r.file.deviceId },
  { name: 'device', get: (r) => r.device?.row.alias ?? null },
  { name: 'device_identity', get: (r) => r.device?.row.identity ?? null },
  ...pathColumns<ExportRow>('mount_point', (r) => r.device?.mountPoint ?? Buffer.alloc(0)),
  ...pathColumns<ExportRow>('path', (r) => r.path),
  ...pathColumns<ExportRow>('fs_path', (r) => r.fsPath),
  { name: 'size', get: (r) => r.file.size },
  { name: 'mtime_ns', get: (r) => r.file.mtimeNs.toString() },
  { name: 'mtime', get: (r) => isoFromNs(r.file.mtimeNs) },
  { name: 'inode', get: (r) => unsignedInode(r.file.inode) },
  { name: 'nlink', get: (r) => r.file.nlink },
  { name: 'sha256', get: (r) => (r.file.sha256 ? r.file.sha256.toString('hex') : null) },
  // Added with hosts (after the others, so that scripts reading columns by position still
  // work): the host whose mount `mount_point` is, and the device as listings name it.
  { name: 'host', get: (r) => r.device?.host?.hostname ?? null },
  { name: 'machine_id', get: (r) => r.device?.host?.machineId ?? null },
  { name: 'device_label', get: (r) => r.device?.label ?? null },
];

/** Rows read from the catalog in one call. */
const PAGE = 1000;

/** Write every active file (of one device, when given). Returns the number of rows. */
export async function writeExport(
  catalog: Pick<Catalog, 'export' | 'devices'>,
  out: Output,
  q: {
    readonly format: ExportFormat;
    readonly deviceId?: number | undefined;
    /** Who is looking: how devices are named (device-label.ts). */
    readonly view: HostView;
  },
): Promise<number> {
  const devices = await catalog.devices.list();
  const byId = new Map(devices.map((d) => [d.id, exportDevice(d, q.view)]));
  const toAbs = visiblePathMapper(devices);
  const csv = q.format === 'csv';
  if (csv) await out.write(csvHeader(EXPORT_COLUMNS));
  let n = 0;
  for await (const page of catalog.export.files({ deviceId: q.deviceId, pageSize: PAGE })) {
    for (const file of page) {
      const fsPath = joinPath(file.dirPath, file.name);
      const row: ExportRow = {
        file,
        device: byId.get(file.deviceId),
        fsPath,
        path: toAbs(file.deviceId, fsPath),
      };
      const p = out.write(csv ? csvRow(EXPORT_COLUMNS, row) : `${jsonRow(EXPORT_COLUMNS, row)}\n`);
      n++;
      if (p) await p;
    }
  }
  return n;
}
