#!/usr/bin/env bash
# fuzz/run.sh [SECONDS_PER_TARGET] — CI-able short fuzz run (docs/fuzzing.md).
#
# Configures a clang build dir with -DRINGTRAIN_FUZZ=ON (tests and benchmarks off), builds
# only the fuzz targets, then runs each target for SECONDS_PER_TARGET (default 60) starting
# from its checked-in seeds (fuzz/seeds/<target>) and the regression inputs
# (tests/fuzz_regress/<target>). Fails (exit 1) if any target crashes, leaks, times out on
# one input or trips a sanitizer; the reproducer is left in $FUZZ_OUT/<target>/.
# Environment: FUZZ_BUILD (default /tmp/build-fuzz), FUZZ_OUT (default $FUZZ_BUILD/out),
# FUZZ_JOBS (build parallelism, default 2), FUZZ_TARGETS (default: all six).
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD:-/tmp/build-fuzz}"
out="${FUZZ_OUT:-$build/out}"
jobs="${FUZZ_JOBS:-2}"
targets="${FUZZ_TARGETS:-libsvm csv idx model znode handshake}"

start=$(date +%s)
CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S "$root" -B "$build" \
  -DRINGTRAIN_FUZZ=ON -DRINGTRAIN_BUILD_TESTS=OFF -DRINGTRAIN_BUILD_BENCH=OFF \
  -DRINGTRAIN_ONLY_UNIT=ON -DRINGTRAIN_OPENMP=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
exes=()
for t in $targets; do exes+=("fuzz_$t"); done
cmake --build "$build" --target "${exes[@]}" -j"$jobs"
built=$(date +%s)
echo "fuzz/run.sh: build took $((built - start)) s"

failed=()
for t in $targets; do
  work="$out/$t"
  rm -rf "$work" && mkdir -p "$work/corpus"
  seeds=("$root/fuzz/seeds/$t")
  [ -d "$root/tests/fuzz_regress/$t" ] && seeds+=("$root/tests/fuzz_regress/$t")
  dict=(); [ -f "$root/fuzz/$t.dict" ] && dict=(-dict="$root/fuzz/$t.dict")
  echo "fuzz/run.sh: fuzz_$t for ${seconds}s"
  # New corpus entries go to $work/corpus (never into the checkout); crashes to $work/.
  if "$build/fuzz/fuzz_$t" "$work/corpus" "${seeds[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      "${dict[@]}" -artifact_prefix="$work/" -print_final_stats=1 >"$work/log" 2>&1; then
    grep -E "^(stat::number_of_executed_units|stat::new_units_added)" "$work/log" | tr '\n' ' '
    echo
  else
    echo "fuzz/run.sh: fuzz_$t FAILED; log $work/log, reproducer:" $(ls "$work"/{crash,leak,timeout,oom}-* 2>/dev/null)
    tail -n 40 "$work/log"
    failed+=("$t")
  fi
done
echo "fuzz/run.sh: total $(( $(date +%s) - start )) s (build $((built - start)) s)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: FAILED targets: ${failed[*]}"
  exit 1
fi
echo "fuzz/run.sh: all targets clean"
