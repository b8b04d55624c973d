#!/usr/bin/env bash
# dstm's one entry point. On a fresh Debian 12 machine as root it installs what is missing,
# configures, builds into build/ (every program in build/bin/) and runs:
#   ./build.sh demo    the quick start
#   ./build.sh test    the whole CTest suite, real ZooKeeper servers included
#   ./build.sh bench   the benchmark suite against its own ZooKeeper (tables in build/bench/)
#   ./build.sh build   configure and build only
set -euo pipefail
cd "$(dirname "$0")"

command=${1:-test}
shift || true
jobs=$(nproc 2>/dev/null || echo 2)

packages=(cmake make g++ zookeeper libzookeeper-mt-dev default-jre-headless libboost-dev
          librapidcheck-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
          netcat-openbsd python3-kazoo chromium redis-server libhiredis-dev
          libcpp-httplib-dev gnuplot-nox)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "build.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

configure_and_build() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE="${DSTM_BUILD_TYPE:-RelWithDebInfo}" -DDSTM_WERROR=ON
  cmake --build build -j"$jobs"
}

case "$command" in
  build)
    install_missing
    configure_and_build
    ;;
  demo)
    install_missing
    configure_and_build
    if [ -x build/bin/quickstart ]; then
      build/bin/quickstart "$@"
    else
      build/bin/coordinator_tour "$@"
    fi
    ;;
  test)
    install_missing
    configure_and_build
    ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900 "$@"
    ;;
  bench)
    install_missing
    configure_and_build
    bench/run.sh "$@"
    ;;
  *)
    echo "usage: $0 demo|test|bench|build" >&2
    exit 2
    ;;
esac
