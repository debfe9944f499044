// `npm run build`: typecheck and compile src/ with tsc into dist/ (one module per source file,
// which the module-level tests import), then bundle what users run over it with esbuild:
//
//   dist/cli/main.js          the whole command line in one file (tsc's main.js is replaced)
//   dist/chunks/*.js          code only some commands load: the PostgreSQL catalog (with the
//                             `pg` driver still an import of its own), `catalog copy`'s sides
//   dist/scan/hash-worker.js  the hashing worker thread, self-contained (replaces tsc's)
//   dist/catalog/usage-worker.js  a first scan's usage count on a thread (replaces tsc's)
//   dist/catalog/checkpoint-worker.js  an execute's log checkpoints on a thread (replaces tsc's)
//   dist/cli/bin.js           the installed entry: compile cache, then main.js
//
// Why: Node's ESM loader reads and parses ~160 modules one by one on every command; one bundle
// is one read and one parse (README "Performance → Start-up").
//
// Every file of the bundle sits exactly two folders below the package root (dist/<dir>/x.js),
// as every one of the source files that locates something from `import.meta.url` does
// (src/fs/native.ts: the package root; src/cli/main.ts: package.json; src/scan/hash-pool.ts:
// the worker; src/cli/main-path.ts: the entry scheduled jobs run), so those relative URLs hold
// in src/, in tsc's tree and in the bundle alike. The check at the end keeps it that way.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { relative, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

// A clean tree: chunks are named by content hash, so a stale one would otherwise be packed.
rmSync('dist', { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
  {
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  outdir: 'dist',
  // Native addons and the drivers built around them load as packages, as before: better-sqlite3
  // and node-gyp-build (each finds its .node file from its own place). The `pg` driver is
  // bundled into a chunk of its own, loaded only for a postgresql:// catalog: as ~30 modules of
  // node_modules its load took 30–45 ms of every such command, as one chunk 13–16 ms. Its
  // optional parts stay packages, required only where they apply: pg-native (the libpq
  // binding, which hashall never asks for) and pg-cloudflare (Cloudflare Workers only).
  external: ['better-sqlite3', 'node-gyp-build', 'pg-native', 'pg-cloudflare'],
  // Bundled CommonJS packages (commander, picomatch) call require() for Node's built-ins; an
  // ES module has no require of its own.
  banner: {
    js: "import { createRequire as __hashallRequire } from 'node:module'; const require = __hashallRequire(import.meta.url);",
  },
  // Only read under --debug (dist/cli/bin.js turns source maps on for it).
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
};

const cli = await esbuild.build({
  ...common,
  entryPoints: { 'cli/main': 'src/cli/main.ts' },
  // Dynamic imports (the PostgreSQL catalog, catalog copy's sides) become chunks loaded on use.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
});
const worker = await esbuild.build({
  ...common,
  entryPoints: {
    'scan/hash-worker': 'src/scan/hash-worker.ts',
    'catalog/usage-worker': 'src/catalog/usage-worker.ts',
    'catalog/checkpoint-worker': 'src/catalog/checkpoint-worker.ts',
  },
});

// The installed entry: its own small file (it must run before the bundle loads), which imports
// the bundle as it is, next to it.
const bin = await esbuild.build({
  ...common,
  entryPoints: { 'cli/bin': 'src/cli/bin.ts' },
  plugins: [
    {
      name: 'main-stays-apart',
      setup(build) {
        build.onResolve({ filter: /^\.\/main\.js$/ }, (args) => ({
          path: args.path,
          external: true,
        }));
      },
    },
  ],
});

for (const result of [cli, worker, bin]) {
  for (const out of Object.keys(result.metafile.outputs)) {
    const depth = relative(root, out).split(sep).length;
    if (depth !== 3)
      throw new Error(`bundle file ${out} is not two folders below the package root`);
  }
}
