#!/usr/bin/env bash
# Ring allreduce (TCP, MPI transport) beside MPI_Allreduce, np = 2 and 4; JSON lines on stdout.
#
#   scripts/bench_allreduce.sh                  build build/main if needed, run np=2 and np=4
#   BUILD_DIR=/tmp/b scripts/bench_allreduce.sh  use another build directory
#   scripts/bench_allreduce.sh --segment-bytes 65536 --max-bytes 67108864   (passed through)
#   NPS=2 scripts/bench_allreduce.sh --min-bytes 65536 --max-bytes 134217728 --factor 2
# The rings tune their segment sizes at start-up as the trainer does (--tune 0, or a
# --segment-bytes, pins them); each run prints its schedule as a JSON line, and the script
# first prints a host line: CPU model and load average.
# Quiet machine wanted: the numbers are medians, but 2 cores shared with a build are not.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/main}
if [[ ! -x $BUILD_DIR/bench/allreduce_bench ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" --target allreduce_bench -j "${JOBS:-2}"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
printf '{"host":"%s","cpu":"%s","load":"%s","utc":"%s"}\n' "$(hostname)" "$cpu" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)"
for np in ${NPS:-2 4}; do
  mpirun --oversubscribe -np "$np" "$BUILD_DIR/bench/allreduce_bench" "$@"
done
