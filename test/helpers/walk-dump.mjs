// Walks one directory with the compiled walker (dist/scan/walker.js) and prints, as JSON, every
// listing, error, skip and prune it reported, with the lister in use (native or JS, chosen by
// HASHALL_NATIVE as in the CLI, listing ahead on the addon's threads unless HASHALL_LIST_THREADS=0).
// test/e2e/native-walk.test.ts runs it each way and compares. Each listing names its parent by
// path too: listed ahead, directories come in another order, and so get other ids.
//   node walk-dump.mjs DIR
import { Buffer } from 'node:buffer';
import { lstatSync, realpathSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const dist = (m) => new URL(`../../dist/${m}`, import.meta.url).href;
const { walk } = await import(dist('scan/walker.js'));
const { readMountinfo } = await import(dist('fs/mountinfo.js'));
const { nativeStatus } = await import(dist('fs/native.js'));
const { openListingQueue } = await import(dist('fs/listing-queue.js'));

const b64 = (b) => Buffer.from(b).toString('base64');
const plain = (v) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? b64(v) : v);
const root = Buffer.from(realpathSync(process.argv[2]));
const st = lstatSync(root, { bigint: true });
const device = { deviceId: 1, identity: 'test:1', fsType: 'test' };
const probe = openListingQueue();
const queue = probe.mode;
probe.close();
const out = { lister: nativeStatus().kind, queue, listings: [], errors: [], skips: [], prunes: [] };
let nextId = 1;
const absById = new Map();
await walk({
  root: { abs: root, fsPath: root, device, stDev: st.dev, ino: st.ino },
  hooks: {
    enterMount: () => undefined,
    listing: (l) => {
      out.listings.push({
        abs: b64(l.abs),
        fsPath: b64(l.fsPath),
        parentDirId: l.parentDirId ?? null,
        parent: l.parentDirId === undefined ? null : absById.get(l.parentDirId),
        files: l.files.map((f) => ({
          name: b64(f.name),
          meta: Object.fromEntries(Object.entries(f.meta).map(([k, v]) => [k, plain(v)])),
        })),
        subdirs: l.subdirs.map(b64),
        kept: l.kept.map(b64),
      });
      absById.set(nextId, b64(l.abs));
      return nextId++;
    },
    error: (abs, err) =>
      out.errors.push({ abs: b64(abs), code: err?.code ?? null, message: String(err?.message) }),
    skip: (kind) => out.skips.push(kind),
    prune: (kind, abs) => out.prunes.push({ kind, abs: b64(abs) }),
  },
  options: {
    oneFileSystem: false,
    mounts: readMountinfo(),
    isExcluded: (_rel, name) => name.toString('latin1') === 'excluded_dir',
    shouldStop: () => false,
  },
});
process.stdout.write(JSON.stringify(out));
