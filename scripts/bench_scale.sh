#!/usr/bin/env bash
# scripts/bench_scale.sh — sparse data at scale: ringtrain (1 rank 1 thread, 1 rank 2 threads,
# 2 ranks, 4 ranks; tron and lbfgs; LR and L2-SVM) beside liblinear-train -s 0 / -s 2 and
# XGBoost gblinear, side by side in one run, on seeded CTR-like data (bench/gen_ctr: 2^20
# hashed features, 40 draws per row, planted sparse truth, label noise, 10 % test split).
# One JSON line per run on stdout (fields: bench/scale_bench.py); bench/scale_table.py makes
# the table. Wrap it in `flock /work/bench.lock` on a shared machine.
#
#   scripts/bench_scale.sh [BUILD_DIR]               (default build/main; builds what it needs)
#   ROWS="250000 1000000 4000000 16000000"  CONFIGS="1x1 1x2 2x1 4x1" (ranks x threads)
#   OPTIMIZERS="tron lbfgs"  LOSSES="logistic squared_hinge"  TOOLS="liblinear ringtrain xgboost"
#   C=1 TOL=0.01 (liblinear's -e = our --tol)  HASH_BITS=20 NNZ=40  XGB_ROUNDS=20
#   BENCH_DIR=/tmp/ringtrain-scale (generated data is cached there: ~360 bytes per row)
# 16M rows is ~5.8 GB of text; liblinear-train holds it as 16-byte feature nodes (~10 GB at
# 16M x 40): leave 16000000 out of ROWS on a machine with less than ~24 GB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/main}
export BENCH_DIR=${BENCH_DIR:-/tmp/ringtrain-scale}
mkdir -p "$BENCH_DIR"
cmake --build "$build" --target ringtrain train_bench gen_ctr -j2 >/dev/null
if [[ " ${TOOLS:-xgboost} " == *" xgboost "* ]] && ! /usr/bin/python3 -c 'import xgboost' 2>/dev/null; then
  echo "bench_scale: python3-xgboost is missing (scripts/setup.sh installs it), or leave xgboost out of TOOLS" >&2
  exit 1
fi
zk_dir=""
cleanup() { [[ -n $zk_dir ]] && "$root/scripts/zk.sh" stop "$zk_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM
eval "$("$root/scripts/zk.sh" start)"
zk_dir=$ZK_DIR
export ZK_CONNECT
/usr/bin/python3 "$root/bench/scale_bench.py" "$build"
