/**
 * The listings a rescan's catalog already holds (bench/NOTES.md): the stored fingerprints
 * of every active directory under the walked root, read from the catalog once per device the
 * walk enters, so that each listed directory is compared with its stored fingerprint in memory
 * instead of by a statement per directory. The directories found unchanged are marked listed a
 * page at a time (the catalog checks each still holds the fingerprint, dir-fingerprints.ts).
 *
 * Memory: packed arrays only (path-table.ts): each directory's path bytes, 8 bytes of row id,
 * 32 of fingerprint and ~20 of hash table, with up to twice that as room to grow.
 */
import type {
  FingerprintScope,
  ScanTree,
  StoredFingerprint,
  UnchangedDir,
} from '../catalog/scan-port.js';
import { PathTable } from './path-table.js';

const FP = 32;
/** Directories marked listed per statement. */
export const MARK_PAGE = 1024;

/** One device's prefetched fingerprints: path → number, the numbers' ids and fingerprints. */
class DeviceFingerprints {
  private readonly paths = new PathTable();
  private ids = new Float64Array(1024);
  private fps = Buffer.alloc(1024 * FP);

  add(r: StoredFingerprint): void {
    if (r.fingerprintHex.length !== FP * 2) return;
    const n = this.paths.addHex(r.pathHex);
    if (n >= this.ids.length) this.grow();
    this.ids[n] = r.dirId;
    this.fps.write(r.fingerprintHex, n * FP, FP, 'hex');
  }

  /** The row id when `fp` is the directory's stored fingerprint. */
  match(path: Buffer, fp: Buffer): number | undefined {
    const n = this.paths.get(path);
    if (n === undefined) return undefined;
    return this.fps.compare(fp, 0, FP, n * FP, n * FP + FP) === 0 ? this.ids[n] : undefined;
  }

  get size(): number {
    return this.paths.size;
  }

  get bytes(): number {
    return this.paths.bytes + this.ids.byteLength + this.fps.length;
  }

  private grow(): void {
    const ids = new Float64Array(this.ids.length * 2);
    ids.set(this.ids);
    const fps = Buffer.alloc(this.fps.length * 2);
    this.fps.copy(fps);
    this.ids = ids;
    this.fps = fps;
  }
}

export class KnownListings {
  private readonly devices = new Map<number, DeviceFingerprints>();
  private page: UnchangedDir[] = [];
  /** Directories marked listed, and those the catalog no longer held as matched. */
  marked = 0;
  lapsed = 0;

  constructor(
    private readonly tree: ScanTree,
    /** Directories per mark statement (1: every directory, for the crash tests' commits). */
    private readonly pageSize = MARK_PAGE,
  ) {}

  /** Read the stored fingerprints of a scope, once per device (a walk enters each once). */
  async load(scope: FingerprintScope): Promise<void> {
    if (this.devices.has(scope.deviceId)) return;
    const dev = new DeviceFingerprints();
    this.devices.set(scope.deviceId, dev);
    for await (const page of this.tree.storedFingerprints(scope)) for (const r of page) dev.add(r);
  }

  /** The directory's row id when the catalog holds this very listing (its fingerprint). */
  match(deviceId: number, fsPath: Buffer, fp: Buffer): number | undefined {
    return this.devices.get(deviceId)?.match(fsPath, fp);
  }

  /** A matched directory was listed: queued to be marked; true when a page is due. */
  listed(dirId: number, fingerprint: Buffer): boolean {
    this.page.push({ dirId, fingerprint });
    return this.page.length >= this.pageSize;
  }

  /** Mark the queued directories listed (inside the caller's unit of work). */
  async flush(): Promise<void> {
    if (this.page.length === 0) return;
    const page = this.page;
    this.page = [];
    const n = await this.tree.markUnchanged(page);
    this.marked += n;
    this.lapsed += page.length - n;
  }

  /** Directories prefetched, and the bytes that holds them. */
  get size(): { dirs: number; bytes: number } {
    let dirs = 0;
    let bytes = 0;
    for (const d of this.devices.values()) {
      dirs += d.size;
      bytes += d.bytes;
    }
    return { dirs, bytes };
  }
}
