#!/usr/bin/env bash
# The benchmark suite (./build.sh bench runs it after building). Starts ONE standalone ZooKeeper
# server (build/bin/with_zookeeper: fsync on, ZooKeeper's default; DSTM_BENCH_FSYNC=0 turns it
# off) and runs against it, in this order: the raw baselines, dstm beside its raw counterparts and
# kazoo's Counter and Lock (bench_stm; kazoo through bench/peers, /usr/bin/python3), then the
# programs that need no server (serializers, simulation, checkers). Results under <build>/bench/:
#   <program>.json / .txt    Google Benchmark's JSON and console table
#   results.md               the Markdown table of figures and ratios (bench/report.py)
#   summary.tsv              one line per target: name measured reference ratio target met|missed
#   *.png                    the plots (gnuplot)
#
# Environment: DSTM_BUILD_DIR (default build), DSTM_BENCH_FSYNC=0, DSTM_BENCH_WINDOW_MS (the
# window of each timed measurement, default 3000 ms). Extra arguments go to every Google Benchmark
# program, e.g. ./build.sh bench --benchmark_min_time=1
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
build=${DSTM_BUILD_DIR:-build}
bin=$build/bin
out=$build/bench
python=/usr/bin/python3

if [ -z "${DSTM_BENCH_ZOOKEEPER:-}" ]; then
  if [ ! -x "$bin/with_zookeeper" ]; then
    echo "bench: $bin/with_zookeeper is missing: build first (./build.sh build)" >&2
    exit 1
  fi
  # Runs this script again with DSTM_BENCH_ZOOKEEPER set; the server goes when it ends.
  exec "$bin/with_zookeeper" "$here/run.sh" "$@"
fi

mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt "$out"/*.png "$out"/*.dat "$out"/results.md "$out"/summary.tsv
started=$(date +%s)
status=0
run() {  # run NAME [ARGS...]: one Google Benchmark program, if it was built
  local name=$1
  shift
  local program=$bin/$name
  if [ ! -x "$program" ]; then
    echo "bench: $program not built: skipped" >&2
    return
  fi
  echo "== $name $*"
  if ! "$program" --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@" |
    tee "$out/$name.txt"; then
    echo "bench: $name failed" >&2
    status=1
  fi
}

echo "bench: ZooKeeper at $DSTM_BENCH_ZOOKEEPER, fsync ${DSTM_BENCH_FSYNC:-1}"
run bench_zookeeper_raw "$@"
# bench_stm drives kazoo (bench/peers/kazoo_peers.py --serve) itself, in turns with dstm.
if ! "$python" -c "import kazoo" 2>/dev/null; then
  echo "bench: python3-kazoo is not installed: the peer comparisons will be skipped" >&2
fi
DSTM_BENCH_KAZOO=$here/peers/kazoo_peers.py run bench_stm "$@"
run bench_serial "$@"
run sim_bench "$@"
run check_iso_bench "$@"
run check_lin_bench "$@"

echo "== report"
if ! "$python" bench/report.py --dir "$out" --seconds $(($(date +%s) - started)); then
  echo "bench: report failed" >&2
  status=1
fi
echo "results in $out/ (results.md, summary.tsv, *.png)"
exit $status
