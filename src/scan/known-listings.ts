/**
 * The listings a rescan's catalog already holds (README "Performance"): the stored fingerprints
 * of every active directory under the walked root, read from the catalog once per device the
 * walk enters, so that each listed directory is compared with its stored fingerprint in memory
 * instead of by a statement per directory. The directories found unchanged are marked listed a
 * page at a time (the catalog checks each still holds the fingerprint, dir-fingerprints.ts).
 *
 * Memory: one Map entry per directory (its path as a latin1 string) plus 8 bytes of row id and
 * 32 of fingerprint in packed arrays — about 150 bytes a directory, ~15 MB for the 100,000
 * directories of a million files (measured in README "Performance").
 */
import type { FingerprintScope, ScanTree, UnchangedDir } from '../catalog/scan-port.js';
import { byteKey } from '../paths.js';

const FP = 32;
/** Directories marked listed per statement. */
export const MARK_PAGE = 1024;

/** One device's prefetched fingerprints: path → slot in the packed id and fingerprint arrays. */
class DeviceFingerprints {
  readonly slots = new Map<string, number>();
  private ids = new Float64Array(1024);
  private fps = Buffer.alloc(1024 * FP);

  add(path: Buffer, dirId: number, fp: Buffer): void {
    if (fp.length !== FP) return;
    const key = byteKey(path);
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.slots.size;
      if (slot === this.ids.length) this.grow();
      this.slots.set(key, slot);
    }
    this.ids[slot] = dirId;
    fp.copy(this.fps, slot * FP);
  }

  /** The row id when `fp` is the directory's stored fingerprint. */
  match(path: Buffer, fp: Buffer): number | undefined {
    const slot = this.slots.get(byteKey(path));
    if (slot === undefined) return undefined;
    return this.fps.compare(fp, 0, FP, slot * FP, slot * FP + FP) === 0
      ? this.ids[slot]
      : undefined;
  }

  get bytes(): number {
    return this.ids.byteLength + this.fps.length;
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
    for await (const page of this.tree.storedFingerprints(scope))
      for (const r of page) dev.add(r.path, r.dirId, r.fingerprint);
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

  /** Directories prefetched, and the packed arrays' bytes (without the Map's keys). */
  get size(): { dirs: number; bytes: number } {
    let dirs = 0;
    let bytes = 0;
    for (const d of this.devices.values()) {
      dirs += d.slots.size;
      bytes += d.bytes;
    }
    return { dirs, bytes };
  }
}
