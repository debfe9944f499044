// `npm run build`: typecheck and compile src/ with tsc into dist/ (one module per source file,
// which the module-level tests import), then bundle what users run over it with esbuild:
//
//   dist/cli/program.cjs      the whole command line in one CommonJS file (src/cli/program.ts
//                             and all it imports, the PostgreSQL catalog's code included)
//   dist/cli/main.js          the entry: runs program.cjs through V8's code cache
//                             (src/cli/code-cache.ts); replaces tsc's main.js
//   dist/cli/bin.js           the installed command: Node's compile cache, then main.js
//   dist/chunks/pg.cjs        the `pg` driver, required only for a postgresql:// catalog
//   dist/scan/hash-worker.js  the hashing worker thread, self-contained (replaces tsc's)
//   dist/catalog/usage-worker.js  a first scan's usage count on a thread (replaces tsc's)
//   dist/catalog/checkpoint-worker.js  an execute's log checkpoints on a thread (replaces tsc's)
//
// Why: Node's ESM loader reads and parses ~160 modules one by one on every command; one bundle
// is one read and one parse (bench/NOTES.md "Start-up"). CommonJS, because V8's code
// cache can be handed to the compiler for a script on every Node line (vm.Script's
// cachedData), and for an ES module on none without a flag.
//
// Every file of the bundle sits exactly two folders below the package root (dist/<dir>/x.js),
// as every one of the source files that locates something from `import.meta.url` does
// (src/fs/native.ts: the package root; src/cli/program.ts: package.json; src/scan/hash-pool.ts:
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

// A clean tree: a file an earlier build made and this one does not would otherwise be packed.
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
  platform: 'node',
  target: 'node20.19',
  outdir: 'dist',
  // Native addons and the drivers built around them load as packages, as before: better-sqlite3
  // and node-gyp-build (each finds its .node file from its own place). The `pg` driver's
  // optional parts stay packages, required only where they apply: pg-native (the libpq
  // binding, which hashall never asks for) and pg-cloudflare (Cloudflare Workers only).
  external: ['better-sqlite3', 'node-gyp-build', 'pg-native', 'pg-cloudflare'],
  // Only read under --debug (dist/cli/bin.js turns source maps on for it).
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
};

// The ES modules: the entries and the workers.
const esm = {
  ...common,
  format: 'esm',
  // Bundled CommonJS packages (commander, picomatch) call require() for Node's built-ins; an
  // ES module has no require of its own.
  banner: {
    js: "import { createRequire as __hashallRequire } from 'node:module'; const require = __hashallRequire(import.meta.url);",
  },
};

// The program as one CommonJS file. `import.meta.url` is the file's own URL there too.
const program = await esbuild.build({
  ...common,
  format: 'cjs',
  entryPoints: { 'cli/program': 'src/cli/program.ts' },
  outExtension: { '.js': '.cjs' },
  define: { 'import.meta.url': '__hashallUrl' },
  // A script compiled through node:vm (the code cache) has no import() of its own: require().
  supported: { 'dynamic-import': false },
  // "use strict" first: after the banner's line it would be no directive, and the program,
  // written as ES modules (always strict), would run in sloppy mode.
  banner: {
    js: "'use strict';\nconst __hashallUrl = require('node:url').pathToFileURL(__filename).href;",
  },
  plugins: [
    {
      // The `pg` driver is a file of its own (below), required only where the PostgreSQL
      // catalog first connects (src/catalog/pg/driver.ts).
      name: 'pg-apart',
      setup(build) {
        build.onResolve({ filter: /^pg$/ }, () => ({ path: '../chunks/pg.cjs', external: true }));
      },
    },
  ],
});
// The `pg` driver and the modules it needs, as one file, loaded only for a postgresql://
// catalog: as ~30 modules of node_modules its load took 30–45 ms of every such command, as one
// file 13–16 ms.
const pg = await esbuild.build({
  ...common,
  format: 'cjs',
  stdin: { contents: "module.exports = require('pg');", resolveDir: root, sourcefile: 'pg.cjs' },
  outfile: 'dist/chunks/pg.cjs',
  outdir: undefined,
});
// The entry, an ES module: it must load before the program, to hand V8 the cache.
const cli = await esbuild.build({
  ...esm,
  entryPoints: { 'cli/main': 'src/cli/main.ts' },
  plugins: [
    {
      name: 'program-stays-apart',
      setup(build) {
        build.onResolve({ filter: /\.cjs$/ }, (args) => ({ path: args.path, external: true }));
      },
    },
  ],
});
const worker = await esbuild.build({
  ...esm,
  entryPoints: {
    'scan/hash-worker': 'src/scan/hash-worker.ts',
    'catalog/usage-worker': 'src/catalog/usage-worker.ts',
    'catalog/checkpoint-worker': 'src/catalog/checkpoint-worker.ts',
  },
});

// The installed entry: its own small file (it must run before the bundle loads), which imports
// the bundle as it is, next to it.
const bin = await esbuild.build({
  ...esm,
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

for (const result of [program, pg, cli, worker, bin]) {
  for (const out of Object.keys(result.metafile.outputs)) {
    const depth = relative(root, out).split(sep).length;
    if (depth !== 3)
      throw new Error(`bundle file ${out} is not two folders below the package root`);
  }
}
