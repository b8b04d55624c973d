#!/usr/bin/env bash
# Runs every benchmark program in build/bin (bench_*) and keeps their results under build/bench/:
# <name>.json (Google Benchmark's JSON) and <name>.txt (the console table). Each program that
# needs ZooKeeper starts its own server (fsync on by default; DSTM_BENCH_FSYNC=0 turns it off).
# Extra arguments go to every program, e.g. ./build.sh bench --benchmark_min_time=2
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench
mkdir -p "$out"
status=0
for program in build/bin/bench_*; do
  [ -x "$program" ] || continue
  name=$(basename "$program")
  echo "== $name"
  if ! "$program" --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@" |
    tee "$out/$name.txt"; then
    echo "bench: $name failed" >&2
    status=1
  fi
done
echo "results in $out/"
exit $status
