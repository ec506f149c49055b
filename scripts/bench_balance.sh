#!/usr/bin/env bash
# scripts/bench_balance.sh — load balancing by measured speed under a real CPU limit
# (docs/balancing.md, "Measured"). Prints one JSON line per case.
#
#   scripts/bench_balance.sh [BUILD_DIR]          (default build/main; needs root for cgroups)
#
# Each case runs N ranks (plain processes, TCP, one thread each) on one dataset; the last rank
# (rank N-1) is slowed by a cgroup v1 CPU quota on its process (/sys/fs/cgroup/cpu,
# cpu.cfs_quota_us / cpu.cfs_period_us; QUOTA=0.5 of one CPU by default):
#   equal_off / equal_auto   no limit, --balance off / auto (auto must change nothing)
#   slow_off / slow_auto     limited from the start, --balance off / auto
#   mid_auto                 limited from epoch MID_FROM to MID_TO only, --balance auto
# Reported per case: epoch seconds before balancing (median of the epochs with the first map,
# after the first epoch) and after (median of the last 5 epochs), the slowest rank's compute
# seconds per epoch before/after, the ideal compute seconds per epoch = total rows / sum of
# the ranks' measured rows per second (from the last metrics line's per-rank figures), epochs
# from the slowdown to the first epoch run with a new map, and the partition generations.
# Datasets: Fashion-MNIST (IDX, Debian dataset-fashion-mnist) and a generated CTR-like sparse
# set (bench/gen_data: 200k rows, 20k features, density 0.002, 2 classes), made once under
# BUILD/bench-data (DATASETS=heart: a seconds-long smoke test of the script itself). Wrap in
# `flock /work/bench.lock` when the machine is shared.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/main}
BIN=$BUILD/src/cli/ringtrain
GEN=$BUILD/bench/gen_data
WORLDS=${WORLDS:-"2 4"}
EPOCHS=${EPOCHS:-24}
QUOTA=${QUOTA:-0.5}
MID_FROM=${MID_FROM:-6}
MID_TO=${MID_TO:-16}
DATASETS=${DATASETS:-"fashion sparse"}
CG=/sys/fs/cgroup/cpu
[[ -x $BIN ]] || { echo "no $BIN; build first" >&2; exit 1; }
[[ -w $CG ]] || { echo "cgroup v1 cpu controller not writable at $CG (run as root)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringtrain-bench-balance.XXXXXX")
SLOW=$CG/ringtrain-bench-$$
mkdir -p "$SLOW"
cleanup() {
  if [[ -f $SLOW/cgroup.procs ]]; then
    while read -r p; do echo "$p" >"$CG/cgroup.procs" 2>/dev/null || true; done <"$SLOW/cgroup.procs"
  fi
  rmdir "$SLOW" 2>/dev/null || true
  [[ -n ${ZK_DIR:-} ]] && "$ROOT/scripts/zk.sh" stop "$ZK_DIR" >/dev/null 2>&1 || true
  jobs -p | xargs -r kill -KILL 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
echo 100000 >"$SLOW/cpu.cfs_period_us"
eval "$("$ROOT/scripts/zk.sh" start)"
ZK=$ZK_CONNECT

DATA_DIR=$BUILD/bench-data
mkdir -p "$DATA_DIR"
if [[ $DATASETS == *sparse* && ! -s $DATA_DIR/ctr.libsvm ]]; then
  "$GEN" --rows 200000 --features 20000 --density 0.002 --classes 2 --seed 14 --format libsvm \
    --out "$DATA_DIR/ctr.libsvm"
fi
FM=/usr/share/datasets/fashion-mnist
data_args() {
  case $1 in
    fashion) echo "--data $FM/train-images-idx3-ubyte.gz --labels $FM/train-labels-idx1-ubyte.gz --C 0.01" ;;
    sparse) echo "--data $DATA_DIR/ctr.libsvm --C 1" ;;
    heart) echo "--data /usr/share/doc/liblinear-tools/examples/heart_scale --C 1" ;;  # smoke test
  esac
}

cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)

# run_case DATASET N CASE
run_case() {
  local ds=$1 n=$2 case=$3 balance=auto limit=none r pids=() job
  [[ $case == *_off ]] && balance=off
  [[ $case == slow_* ]] && limit=start
  [[ $case == mid_* ]] && limit=mid
  job=bal-$ds-$n-$case-$$
  local metrics=$WORK/$job.jsonl
  local quota_us
  quota_us=$(awk -v q="$QUOTA" 'BEGIN { printf "%d", q * 100000 }')
  echo "$quota_us" >"$SLOW/cpu.cfs_quota_us"
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  for ((r = 0; r < n; r++)); do
    local cg=$CG
    [[ $limit == start && $r == $((n - 1)) ]] && cg=$SLOW
    # The process enters its cgroup before it execs ringtrain (limited from its first epoch).
    # shellcheck disable=SC2046
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$BIN" train --zk "$ZK" --job "$job" \
      --ranks "$n" --threads 1 --optimizer lbfgs --tol 1e-12 --epochs "$EPOCHS" \
      --eval-every 1000 --balance "$balance" --metrics "$metrics" --timeout 120 \
      $(data_args "$ds") >"$WORK/$job.$r.log" 2>&1 &
    pids+=($!)
    sleep 0.3  # join in start order: the last process is rank n-1
  done
  local slow=${pids[$((n - 1))]}
  if [[ $limit == mid ]]; then
    (
      while ! grep -q "\"epoch\":$MID_FROM," "$metrics" 2>/dev/null; do sleep 0.05; done
      echo "$slow" >"$SLOW/cgroup.procs" 2>/dev/null || true
      echo "mid-run limit on from epoch $MID_FROM" >&2
      while ! grep -q "\"epoch\":$MID_TO," "$metrics" 2>/dev/null; do sleep 0.05; done
      echo "$slow" >"$CG/cgroup.procs" 2>/dev/null || true
    ) &
  fi
  for p in "${pids[@]}"; do wait "$p" || { echo "rank failed: $(tail -3 "$WORK/$job".*.log)" >&2; return 1; }; done
  /usr/bin/python3 - "$metrics" "$ds" "$n" "$case" "$QUOTA" "$cpu_model" "$load" "$MID_FROM" "$MID_TO" <<'EOF'
import json, statistics, sys
path, ds, n, case, quota, cpu, load, mid_from, mid_to = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
first_gen = rows[0]["partition_generation"]
start = int(mid_from) if case.startswith("mid") else 1
before = [r for r in rows if r["partition_generation"] == first_gen and r["epoch"] > start]
if case.startswith("mid"):
    before = [r for r in rows if r["partition_generation"] == first_gen and start < r["epoch"] <= int(mid_to)] or before
moved = [r["epoch"] for r in rows if r["partition_generation"] != first_gen and r["epoch"] > start]
after = rows[-5:] if not case.startswith("mid") else [r for r in rows if r["epoch"] <= int(mid_to)][-4:]
med = lambda xs: statistics.median(xs) if xs else None
def slowest(rs): return med([max(r["rank_compute_s"]) for r in rs])
last = after[-1]
rates = [rows_ / c for rows_, c in zip(last["rank_rows"], last["rank_compute_s"]) if c > 0]
ideal = sum(last["rank_rows"]) / sum(rates) if rates else None
out = {"dataset": ds, "ranks": int(n), "case": case, "quota": float(quota) if "slow" in case or "mid" in case else None,
       "epoch_s_before": med([r["epoch_s"] for r in before]), "epoch_s_after": med([r["epoch_s"] for r in after]),
       "slowest_compute_s_before": slowest(before), "slowest_compute_s_after": slowest(after),
       "ideal_compute_s": ideal,
       "after_over_ideal": (slowest(after) / ideal) if ideal else None,
       "epochs_until_balanced": (moved[0] - start) if moved else None,
       "partition_generations": sorted({r["partition_generation"] for r in rows}),
       "rows_after": last["rank_rows"], "cpu": cpu, "load": load}
if case.startswith("mid"):
    out["epoch_s_end"] = med([r["epoch_s"] for r in rows[-4:]])
    out["generation_end"] = rows[-1]["partition_generation"]
print(json.dumps(out))
EOF
}

for ds in $DATASETS; do
  for n in $WORLDS; do
    for c in equal_off equal_auto slow_off slow_auto mid_auto; do
      run_case "$ds" "$n" "$c"
    done
  done
done
