#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, build, a throwaway ZooKeeper, every test
# (all labels but `long`), then the unit and threads layers under ASan+UBSan and TSan.
#
#   scripts/test.sh                      everything
#   RINGTRAIN_SANITIZERS=0 scripts/test.sh   skip the sanitizer builds (local iteration)
#   RINGTRAIN_TEST_LABELS='unit|threads' scripts/test.sh   only some labels
#   RINGTRAIN_FUZZ_SECONDS=0 scripts/test.sh     skip the short fuzz run (default 10 s/target)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
LABELS=${RINGTRAIN_TEST_LABELS:-}
SANITIZERS=${RINGTRAIN_SANITIZERS:-1}
FUZZ_SECONDS=${RINGTRAIN_FUZZ_SECONDS:-10}

scripts/setup.sh

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

echo "== build (RelWithDebInfo)"
cmake -S . -B build/main -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGTRAIN_WERROR=ON >/dev/null
cmake --build build/main -j "$JOBS"

ZK_DIR=""
cleanup() {
  if [[ -n $ZK_DIR ]]; then scripts/zk.sh stop "$ZK_DIR" || true; fi
}
trap cleanup EXIT INT TERM

echo "== start ZooKeeper"
eval "$(scripts/zk.sh start)"
export RINGTRAIN_TEST_ZK=$ZK_CONNECT
echo "ZooKeeper at $ZK_CONNECT"

failed=0
echo "== tests (all labels but long)"
label_args=(-LE long)
if [[ -n $LABELS ]]; then label_args=(-L "$LABELS" -LE long); fi
(cd build/main && ctest --output-on-failure --no-tests=error -j "$JOBS" "${label_args[@]}") || failed=1

if [[ $SANITIZERS == 1 ]]; then
  echo "== ASan+UBSan build: unit and threads layers"
  cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRINGTRAIN_SANITIZE_ADDRESS=ON \
    -DRINGTRAIN_ONLY_UNIT=ON -DRINGTRAIN_BUILD_BENCH=OFF >/dev/null
  cmake --build build/asan -j "$JOBS"
  (cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure --no-tests=error -j "$JOBS" -L 'unit|threads' -LE long) || failed=1

  echo "== TSan build (OpenMP off): unit and threads layers"
  cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DRINGTRAIN_SANITIZE_THREAD=ON \
    -DRINGTRAIN_OPENMP=OFF -DRINGTRAIN_ONLY_UNIT=ON -DRINGTRAIN_BUILD_BENCH=OFF >/dev/null
  cmake --build build/tsan -j "$JOBS"
  (cd build/tsan && TSAN_OPTIONS=halt_on_error=1 \
    ctest --output-on-failure --no-tests=error -j "$JOBS" -L 'unit|threads' -LE long) || failed=1
fi

if ((FUZZ_SECONDS > 0)); then
  echo "== short fuzz run (clang, libFuzzer): ${FUZZ_SECONDS} s per target"
  FUZZ_BUILD=$ROOT/build/fuzz fuzz/run.sh "$FUZZ_SECONDS" || failed=1
fi

if ((failed)); then
  echo "test.sh: FAILED" >&2
  exit 1
fi
echo "test.sh: all tests passed"
