# Shared by the user-facing scripts (sourced, not run): build, binary path, ZooKeeper start/stop.
# shellcheck shell=bash

RT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RT_BUILD=${RINGTRAIN_BUILD_DIR:-$RT_ROOT/build/release}
RT_BIN=$RT_BUILD/src/cli/ringtrain
RT_ZK_DIR=""

rt_log() { echo "[$(basename "$0")] $*" >&2; }
rt_die() { echo "[$(basename "$0")] error: $*" >&2; exit 1; }

# Installs what is missing and builds the ringtrain binary (Release, incremental).
rt_build() {
  "$RT_ROOT/scripts/setup.sh" >&2
  if [[ ! -f $RT_BUILD/CMakeCache.txt ]]; then
    cmake -S "$RT_ROOT" -B "$RT_BUILD" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_BUILD_TESTS=OFF \
      -DRINGTRAIN_BUILD_BENCH=OFF >&2
  fi
  cmake --build "$RT_BUILD" --target ringtrain -j "$(nproc)" >&2
}

# Starts a local ZooKeeper; sets RT_ZK (connect string). Stopped by rt_cleanup_zk.
# rt_start_zk            throwaway: state in a temp dir, removed on stop
# rt_start_zk DIR        state kept in DIR across runs (so a job can be resumed later)
RT_ZK_KEEP=""
rt_start_zk() {
  local out dir_args=()
  if [[ -n ${1:-} ]]; then
    mkdir -p "$1"
    dir_args=(--dir "$1")
    RT_ZK_KEEP=--keep-data
  fi
  out=$("$RT_ROOT/scripts/zk.sh" start --tick 500 "${dir_args[@]}") ||
    rt_die "could not start a local ZooKeeper"
  eval "$out"
  RT_ZK_DIR=$ZK_DIR
  RT_ZK=$ZK_CONNECT
  rt_log "started a local ZooKeeper at $RT_ZK${1:+ (state in $1)}"
}

rt_cleanup_zk() {
  if [[ -n $RT_ZK_DIR ]]; then
    "$RT_ROOT/scripts/zk.sh" stop "$RT_ZK_DIR" $RT_ZK_KEEP || true
    RT_ZK_DIR=""
  fi
}

# Threads per rank so that ranks x threads does not exceed the cores.
rt_threads_per_rank() {
  local ranks=$1 cores
  cores=$(nproc)
  local t=$((cores / ranks))
  ((t < 1)) && t=1
  echo "$t"
}
