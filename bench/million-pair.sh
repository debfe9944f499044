#!/bin/bash
# The 1M-file tree by hand (bench/RESULTS-million.md): per round and per build, a first scan
# into a new catalog, an unchanged rescan and `conductor analyze`, each under /usr/bin/time.
# usage: bench/million-pair.sh ROUNDS LABEL=DIST_DIR ...   (DIST_DIR: a build's dist/)
# The tree must exist (bench/lib/trees.mjs ensureTree(TREE_SPECS.million)).
HERE=$(cd "$(dirname "$0")" && pwd)
M=$HERE/.cache/trees/files1000000-mb1024-seed1
W=$HERE/.cache/million-pair
mkdir -p "$W"
OUT=$W/times.txt
R=$1; shift
export NO_COLOR=1
t() { # label what cmd...
  local label=$1 what=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$W/t.out" "$@" > "$W/$label-$what.json" 2> "$W/$label-$what.err"
  local rc=$?
  read -r e u s m < <(tail -1 "$W/t.out")
  echo "$(date -u +%H:%M:%S) $label $what rc=$rc wall=$e user=$u sys=$s maxrss_kb=$m load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
}
for _ in $(seq 1 "$R"); do
  for spec in "$@"; do
    label=${spec%%=*}; dist=${spec#*=}
    db=$W/$label.db; rm -f "$db" "$db-wal" "$db-shm"
    t "$label" first node "$dist/cli/main.js" scan "$M" --catalog "$db" --json -q
    t "$label" rescan node "$dist/cli/main.js" scan "$M" --catalog "$db" --json -q
    t "$label" analyze node "$dist/cli/main.js" conductor analyze --catalog "$db" --json
    python3 -c "import json;d=json.load(open('$W/$label-analyze.json'))['same_device'];print('  $label analyze groups',d['groups'],'bytes_saveable',d['bytes_saveable'])" | tee -a "$OUT"
    rm -f "$db" "$db-wal" "$db-shm"
  done
done
