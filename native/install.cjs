// npm install step of hashall: load a prebuilt native walk (prebuilds/) or compile it with
// node-gyp (through node-gyp-build). It never fails the install: without a compiler, headers or
// a prebuilt binary for this Node, hashall uses its pure-JS walk, which is slower but equivalent.
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

if (process.env.HASHALL_NATIVE === '0') process.exit(0);
const bin = require.resolve('node-gyp-build/bin.js');
const r = spawnSync(process.execPath, [bin], { cwd: join(__dirname, '..'), stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(
    'hashall: the native walk could not be built here (no C++ compiler or Node headers?); ' +
      'hashall works without it, using its JS walk (slower scans). To retry: npm rebuild hashall\n',
  );
}
process.exit(0);
