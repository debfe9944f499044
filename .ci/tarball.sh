#!/usr/bin/env bash
# hashall installs and runs like an npm CLI: pack the checkout, install the tarball globally into
# a temporary prefix (no devDependencies there: only what the tarball declares), then check
# `hashall --version`, a scan and a plan through the installed `hashall` on PATH.
#   .ci/tarball.sh WORK_DIR
set -euo pipefail
work="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
MKTREE="${HASHALL_MKTREE:-$root/../shared/tools/mktree.py}"
mkdir -p "$work"

(cd "$root" && npm pack --pack-destination "$work" --loglevel=error >/dev/null)
tgz="$(ls "$work"/hashall-*.tgz)"
echo "tarball: $(basename "$tgz"), $(tar tzf "$tgz" | grep -c '^package/dist/') files under dist/"
tar tzf "$tgz" | grep -x 'package/dist/cli/bin.js' >/dev/null

# A global install has no project to record approvals in: allow better-sqlite3's build and
# hashall's own (the native walk) here.
npm install -g --prefix "$work/prefix" --no-audit --no-fund --loglevel=warn \
  --allow-scripts=better-sqlite3,hashall "$tgz"
export PATH="$work/prefix/bin:$PATH"
# The install step built the native walk (a compiler is here); where it cannot, it must not fail.
# The package holds the bundle only (scripts/build.mjs), not tsc's module tree: the addon's
# status is read from the CLI, which says under --debug when it could not load it.
installed="$work/prefix/lib/node_modules/hashall"
test ! -e "$installed/dist/fs/native.js"
mkdir -p "$work/probe"
native="$(HASHALL_NATIVE='' hashall scan "$work/probe" --catalog "$work/probe.db" --quiet --debug 2>&1 |
  grep -o 'native walk not loaded.*' || echo loaded)"
echo "tarball install: native walk $native"
test "$native" = loaded
test "$(command -v hashall)" = "$work/prefix/bin/hashall"
test ! -e "$installed/node_modules/typescript"

want="$(cd "$root" && node -p 'require("./package.json").version')"
got="$(hashall --version)"
echo "hashall --version: $got"
test "$got" = "$want"

expected="$(python3 "$MKTREE" --files 500 --total-mb 16 --seed 3 "$work/tree" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["hardlink_dedupe_saving_bytes"])')"
hashall scan "$work/tree" --catalog "$work/catalog.db" --quiet
saveable="$(hashall conductor plan tarball --device "$work/tree" --catalog "$work/catalog.db" --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_saveable"])')"
echo "tarball install: scan + plan ok, plan saves $saveable bytes (mktree: $expected)"
test "$saveable" = "$expected"
