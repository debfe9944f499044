#!/usr/bin/env bash
# End-to-end smoke of the CLI on one or more Node.js lines, one table row per line:
#   scan (its usage worker ran: --debug says nothing) -> analyze -> plan -> show-plan -> execute ->
#   rescan (scan + analyze, and analyze --rescan) -> report (HTML) -> export,
#   then a reflink plan on a loop-mounted btrfs image, then the native-lifetime and list-pool tests.
# Freed bytes are checked against mktree.py's own figure (hardlink_dedupe_saving_bytes), and on
# btrfs against the filesystem's accounting too. Needs root (loop mount).
#
#   .ci/smoke.sh NODE_BINARY HASHALL_DIR [NODE_BINARY HASHALL_DIR]...
#
# HASHALL_DIR is a checkout with dist/ built and better-sqlite3 built for that NODE_BINARY.
# Prints a Markdown table; exits 1 when any cell is FAIL. Details of failures go to stderr.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
MKTREE="${HASHALL_MKTREE:-$here/../../shared/tools/mktree.py}"
COLUMNS_=(scan analyze plan show-plan execute rescan report export reflink regression-test)

json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

smoke_line() {
  local node="$1" dir="$2" work row=() expected ok id
  local cli="$dir/dist/cli/main.js"
  work="$(mktemp -d /tmp/hashall-smoke.XXXXXX)"
  local cat="$work/catalog.db" tree="$work/tree" log="$work/log"
  h() { "$node" "$cli" "$@" --catalog "$cat" 2>>"$log"; }
  cell() { # cell NAME STATUS: STATUS 0 = ok
    if [ "$2" -eq 0 ]; then row+=(ok); else
      row+=(FAIL)
      echo "smoke [$("$node" --version)] $1 failed; log:" >&2
      tail -n 20 "$log" >&2
    fi
  }

  expected="$(python3 "$MKTREE" --files 2000 --total-mb 64 --seed 7 "$tree" | json hardlink_dedupe_saving_bytes)"
  files="$(python3 "$MKTREE" --verify "$tree" | json regular_file_paths)"

  # --debug: a first scan says so when its usage worker (a thread with a SQLite connection of
  # its own) could not count on this Node line.
  ok=1
  h scan "$tree" --quiet --debug >/dev/null && ! grep -q 'device usage counted' "$log" && ok=0
  cell scan $ok

  ok=1
  [ "$(h conductor analyze --device "$tree" --json | json same_device.bytes_saveable)" = "$expected" ] && ok=0
  cell analyze $ok

  ok=1
  out="$(h conductor plan smoke --device "$tree" --json)"
  id="$(json id <<<"$out")"
  [ "$(json bytes_saveable <<<"$out")" = "$expected" ] && ok=0
  cell plan $ok

  ok=1
  out="$(h conductor show-plan "$id" --limit 5)" && [[ "$out" == *HARDLINK* ]] && ok=0
  cell show-plan $ok

  ok=1
  out="$(h conductor execute "$id" --force --json)"
  [ "$(json bytes_saved <<<"$out")" = "$expected" ] && [ "$(json status <<<"$out")" = executed ] && ok=0
  cell execute $ok

  # The rescan sees the links: nothing is left to save, by scan then analyze, and by the one
  # command (analyze --rescan, which must read every file again).
  ok=1
  h scan "$tree" --quiet >/dev/null &&
    [ "$(h conductor analyze --device "$tree" --json | json same_device.bytes_saveable)" = 0 ] &&
    out="$(h conductor analyze --device "$tree" --rescan --json)" &&
    [ "$(json same_device.bytes_saveable <<<"$out")" = 0 ] &&
    [ "$(json rescan.files <<<"$out")" = "$files" ] && ok=0
  cell rescan $ok

  ok=1
  h conductor report "$id" --format html --out "$work/report.html" >/dev/null &&
    grep -q '<html' "$work/report.html" && ok=0
  cell report $ok

  ok=1
  h export --format csv --out "$work/files.csv" >/dev/null &&
    [ "$(($(wc -l <"$work/files.csv") - 1))" = "$files" ] && ok=0
  cell export $ok

  cell reflink "$(smoke_reflink "$node" "$cli" "$work" >>"$log" 2>&1; echo $?)"

  ok=1
  (cd "$dir" && HASHALL_MKTREE="$MKTREE" "$node" node_modules/vitest/vitest.mjs run \
    test/e2e/native-lifetime.test.ts test/e2e/list-pool.test.ts >>"$log" 2>&1) && ok=0
  cell regression-test $ok

  echo "| $("$node" --version) | $(IFS='|'; echo "${row[*]}" | sed 's/|/ | /g') |"
  rm -rf "$work"
  [[ " ${row[*]} " != *" FAIL "* ]]
}

# btrfs's data bytes of a tree: exclusive + shared extents (`btrfs filesystem du`).
btrfs_used() { btrfs filesystem du -s --raw "$1" | awk 'END {print $2 + $3}'; }

# A reflink plan on a loop-mounted btrfs image. A clone frees whole blocks, and btrfs keeps files
# up to 2 KiB inline (never cloned), so mktree's figure (apparent bytes) is not the measure here:
# the plan's figure (priced from block maps), what execute reports freed, and what btrfs's own
# accounting (`btrfs filesystem du`) lost must all be equal, and non-zero.
smoke_reflink() {
  local node="$1" cli="$2" work="$3" mnt="$3/btrfs" cat="$3/reflink.db" expected planned id out before after
  mkdir -p "$mnt"
  truncate -s 400M "$work/btrfs.img" && mkfs.btrfs -q -f "$work/btrfs.img" &&
    mount -o loop "$work/btrfs.img" "$mnt" || return 1
  local rc=0
  expected="$(python3 "$MKTREE" --files 1000 --total-mb 48 --seed 5 "$mnt/tree" | json hardlink_dedupe_saving_bytes)"
  out="$("$node" "$cli" scan "$mnt/tree" --catalog "$cat" --quiet &&
    "$node" "$cli" conductor plan clones --mode reflink --device "$mnt/tree" --catalog "$cat" --json)" || rc=1
  id="$(json id <<<"$out")"
  planned="$(json bytes_saveable <<<"$out")"
  echo "reflink: mktree (apparent bytes) $expected, plan $planned"
  btrfs filesystem sync "$mnt"
  before="$(btrfs_used "$mnt/tree")"
  out="$("$node" "$cli" conductor execute "$id" --force --json --catalog "$cat")" || rc=1
  btrfs filesystem sync "$mnt"
  after="$(btrfs_used "$mnt/tree")"
  echo "reflink: execute freed $(json bytes_saved <<<"$out"); btrfs data bytes $before -> $after"
  [ "$planned" -gt 0 ] && [ "$(json bytes_saved <<<"$out")" = "$planned" ] &&
    [ "$(json status <<<"$out")" = executed ] && [ $((before - after)) = "$planned" ] || rc=1
  umount "$mnt"
  return $rc
}

header="| Node | $(IFS='|'; echo "${COLUMNS_[*]}" | sed 's/|/ | /g') |"
echo "$header"
echo "$header" | sed 's/[^|]/-/g; s/-\+/---/g'
status=0
while [ $# -ge 2 ]; do
  smoke_line "$1" "$2" || status=1
  shift 2
done
exit $status
