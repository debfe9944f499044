// Walks one directory with the compiled walker (dist/scan/walker.js) and prints, as JSON, every
// listing, error, skip and prune it reported, with the lister in use (native or JS, chosen by
// HASHALL_NATIVE as in the CLI). test/e2e/native-walk.test.ts runs it both ways and compares.
//   node walk-dump.mjs DIR
import { Buffer } from 'node:buffer';
import { lstatSync, realpathSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const dist = (m) => new URL(`../../dist/${m}`, import.meta.url).href;
const { walk } = await import(dist('scan/walker.js'));
const { readMountinfo } = await import(dist('fs/mountinfo.js'));
const { nativeStatus } = await import(dist('fs/native.js'));

const b64 = (b) => Buffer.from(b).toString('base64');
const plain = (v) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? b64(v) : v);
const root = Buffer.from(realpathSync(process.argv[2]));
const st = lstatSync(root, { bigint: true });
const device = { deviceId: 1, identity: 'test:1', fsType: 'test' };
const out = { lister: nativeStatus().kind, listings: [], errors: [], skips: [], prunes: [] };
let nextId = 1;
await walk({
  root: { abs: root, fsPath: root, device, stDev: st.dev, ino: st.ino },
  hooks: {
    enterMount: () => undefined,
    listing: (l) => {
      out.listings.push({
        abs: b64(l.abs),
        fsPath: b64(l.fsPath),
        parentDirId: l.parentDirId ?? null,
        files: l.files.map((f) => ({
          name: b64(f.name),
          meta: Object.fromEntries(Object.entries(f.meta).map(([k, v]) => [k, plain(v)])),
        })),
        subdirs: l.subdirs.map(b64),
        kept: l.kept.map(b64),
      });
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
