#!/usr/bin/env bash
# scripts/bench_balance.sh — load balancing by measured speed under a real CPU limit
# (docs/balancing.md, "Measured"). Prints one JSON line per case.
#
#   scripts/bench_balance.sh [BUILD_DIR]          (default build/main; needs root for cgroups)
#
# Each case runs N ranks (plain processes, TCP, one thread each) on one dataset; the last rank
# (rank N-1) is slowed by a cgroup v1 CPU quota on its process (/sys/fs/cgroup/cpu,
# cpu.cfs_quota_us / cpu.cfs_period_us): QUOTA (default 0.5) times its fair share of the CPUs,
# min(1, CPUs / N) — half speed when the N ranks share fewer cores than N (4 ranks on 2
# cores: 0.25 CPU); "quota_cpus" in the output is the limit applied:
#   equal_off / equal_auto   no limit, --balance off / auto (auto must change nothing)
#   slow_off / slow_auto     limited from the start, --balance off / auto
#   mid_auto                 limited from epoch MID_FROM to MID_TO only, --balance auto
#   hook_off / hook_auto     no quota: RINGTRAIN_FAULT=slow-rows makes every rank sleep HOOK_US
#                            per row per pass (rank N-1: twice that; sleeps, not CPU), so the
#                            speeds are exactly 1 : 0.5 whatever the machine's load and memory
#                            bandwidth (not in the default CASES)
# Reported per case (medians; per pass = per gradient evaluation, lbfgs's line search may
# take more than one in an epoch): epoch seconds and the slowest rank's compute seconds
# before balancing (the limited epochs on the map the limit found, epoch 1 excluded) and
# after (the last 4 limited epochs); the ideal compute seconds per pass = total rows / sum of
# the ranks' measured rows per second (over the same last 4 epochs) and the ratio of the
# slowest rank's to it; the measured speed ratio (slowest / fastest rows per second); the epochs run limited on the old map before the first epoch on a
# new one; the partition generation of every epoch; for mid_auto also the 4 epochs after the
# limit ended and the first epoch on a map made after it ended.
# Datasets: Fashion-MNIST (IDX, Debian dataset-fashion-mnist) and a generated CTR-like sparse
# set (bench/gen_ctr: CTR_ROWS rows, default 400k, 2^18 hashed features, 40 draws per row), made once under
# BUILD/bench-data (DATASETS=heart: a seconds-long smoke test of the script itself). Wrap in
# `flock /work/bench.lock` when the machine is shared. WORLDS, DATASETS and CASES select a subset.
# RAW_DIR=DIR keeps each case's metrics (JSON lines, one per epoch) as DIR/<dataset>-<N>-<case>.jsonl.
# PIN=1 (default) pins rank r to CPU r with taskset when the ranks fit the CPUs (one rank per
# CPU: the scheduler cannot put the limited rank beside a full-speed one); with more ranks
# than CPUs the ranks float (pinning two full-speed ranks to one CPU would halve them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/main}
BIN=$BUILD/src/cli/ringtrain
GEN=$BUILD/bench/gen_ctr
CTR_ROWS=${CTR_ROWS:-400000}
WORLDS=${WORLDS:-"2 4"}
EPOCHS=${EPOCHS:-24}
QUOTA=${QUOTA:-0.5}
MID_FROM=${MID_FROM:-6}
MID_TO=${MID_TO:-16}
DATASETS=${DATASETS:-"fashion sparse"}
CASES=${CASES:-"equal_off equal_auto slow_off slow_auto mid_auto"}
# The ranks run at nice -10 (root): on a shared machine the other users' processes (at nice 0)
# then barely slow them, so a rank's speed is set by the quota, not by whoever else runs.
NICE=${NICE:--10}
PIN=${PIN:-1}
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
# A 10 ms period (the default is 100 ms): the limited process runs in slices much shorter than
# an epoch, so its speed is steady within an epoch rather than full speed for 50 ms then none.
echo 10000 >"$SLOW/cpu.cfs_period_us"
eval "$("$ROOT/scripts/zk.sh" start)"
ZK=$ZK_CONNECT

DATA_DIR=$BUILD/bench-data
mkdir -p "$DATA_DIR"
CTR=$DATA_DIR/ctr-$CTR_ROWS
if [[ $DATASETS == *sparse* && ! -s $CTR.train.svm ]]; then
  [[ -x $GEN ]] || { echo "no $GEN; build the gen_ctr target" >&2; exit 1; }
  "$GEN" --rows "$CTR_ROWS" --test-rows 0 --hash-bits 18 --nnz 40 --seed 14 --out "$CTR" >/dev/null
fi
FM=/usr/share/datasets/fashion-mnist
data_args() {
  case $1 in
    fashion) echo "--data $FM/train-images-idx3-ubyte.gz --labels $FM/train-labels-idx1-ubyte.gz --C 0.01" ;;
    sparse) echo "--data $CTR.train.svm --C 1" ;;
    heart) echo "--data /usr/share/doc/liblinear-tools/examples/heart_scale --C 1" ;;  # smoke test
  esac
}

cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cpus=$(nproc)

# run_case DATASET N CASE
run_case() {
  local ds=$1 n=$2 case=$3 balance=auto limit=none r pids=() job
  [[ $case == *_off ]] && balance=off
  [[ $case == slow_* ]] && limit=start
  [[ $case == mid_* ]] && limit=mid
  local hook_us=0
  if [[ $case == hook_* ]]; then
    case $ds in fashion) hook_us=10 ;; sparse) hook_us=1 ;; *) hook_us=200 ;; esac
    hook_us=${HOOK_US:-$hook_us}
  fi
  job=bal-$ds-$n-$case-$$
  local metrics=$WORK/$job.jsonl
  local quota_us
  quota_us=$(awk -v q="$QUOTA" -v c="$cpus" -v n="$n" \
    'BEGIN { s = c / n; if (s > 1) s = 1; printf "%d", q * s * 10000 }')
  echo "$quota_us" >"$SLOW/cpu.cfs_quota_us"
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  for ((r = 0; r < n; r++)); do
    local cg=$CG
    [[ $limit == start && $r == $((n - 1)) ]] && cg=$SLOW
    # The process enters its cgroup before it execs ringtrain (limited from its first epoch).
    local fault=()
    ((hook_us > 0)) && fault=("RINGTRAIN_FAULT=slow-rows:$((r == n - 1 ? 2 * hook_us : hook_us))")
    local pin=()
    ((PIN && n <= cpus)) && pin=(taskset -c "$r")
    # shellcheck disable=SC2046  # data_args: several words on purpose
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" env "${fault[@]}" "${pin[@]}" nice -n "$NICE" "$BIN" train --zk "$ZK" --job "$job" \
      --ranks "$n" --threads 1 --optimizer lbfgs --tol 1e-12 --epochs "$EPOCHS" \
      --eval-every 1000 --balance "$balance" --metrics "$metrics" --timeout 120 \
      $(data_args "$ds") >"$WORK/$job.$r.log" 2>&1 &
    pids+=($!)
    sleep 0.3  # join in start order: the last process is rank n-1
  done
  local slow=${pids[$((n - 1))]} limiter=
  if [[ $limit == mid ]]; then
    # tail -F follows the metrics file: the limit starts (and ends) as the leader writes the
    # line of epoch MID_FROM (MID_TO), a few ms into the next epoch. (The file appears only
    # once the data is read, and tail then polls instead of using inotify: every 10 ms, not
    # its default second, which started the limit up to 6 epochs late.)
    (
      tail --pid="$slow" -s 0.01 -n +1 -F "$metrics" 2>/dev/null | while read -r line; do
        case $line in
          *"\"epoch\":$MID_FROM,"*) echo "$slow" >"$SLOW/cgroup.procs" 2>/dev/null || true ;;
          *"\"epoch\":$MID_TO,"*) echo "$slow" >"$CG/cgroup.procs" 2>/dev/null || true && break ;;
        esac
      done
    ) &
    limiter=$!
  fi
  for p in "${pids[@]}"; do wait "$p" || { echo "rank failed: $(tail -3 "$WORK/$job".*.log)" >&2; return 1; }; done
  [[ -z $limiter ]] || wait "$limiter" || true  # tail ends on SIGPIPE (pipefail)
  [[ -z ${RAW_DIR:-} ]] || { mkdir -p "$RAW_DIR" && cp "$metrics" "$RAW_DIR/$ds-$n-$case.jsonl"; }
  /usr/bin/python3 - "$metrics" "$ds" "$n" "$case" "$(awk -v q="$quota_us" 'BEGIN { print q / 10000 }')" "$cpu_model" "$load -> $(cut -d' ' -f1-3 /proc/loadavg)" "$MID_FROM" "$MID_TO" "$NICE" "$hook_us" "$((PIN && n <= cpus))" <<'EOF'
import json, statistics, sys
path, ds, n, case, quota, cpu, load, mid_from, mid_to, nice, hook_us, pinned = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
mid = case.startswith("mid")
mid_from, mid_to = int(mid_from), int(mid_to)
# The limit is on from the first epoch (slow_*), or from epoch mid_from + 1 to mid_to (the
# limiter moves the process once the metrics line of mid_from / mid_to is written).
slow_from = mid_from + 1 if mid else 1
slow_to = mid_to if mid else rows[-1]["epoch"]
med = lambda xs: round(statistics.median(xs), 6) if xs else None
per_pass = lambda r, x: x / max(r["passes"], 1)
def figures(rs):
    return {"epoch_s": med([r["epoch_s"] for r in rs]),
            "epoch_s_per_pass": med([per_pass(r, r["epoch_s"]) for r in rs]),
            "slowest_compute_s_per_pass": med([per_pass(r, max(r["rank_compute_s"])) for r in rs])}
def speeds(r):  # rows per second of compute by rank
    return [k / c if c > 0 else 0.0 for k, c in zip(r["rank_rows"], r["rank_compute_s"])]
def ideal(r):  # total rows / sum of the ranks' measured rows per second, per pass
    rates = [k / c for k, c in zip(r["rank_rows"], r["rank_compute_s"]) if c > 0]
    return per_pass(r, sum(r["rank_rows"]) / sum(rates)) if rates else None
gen0 = next(r["partition_generation"] for r in rows if r["epoch"] >= slow_from)
under = [r for r in rows if slow_from <= r["epoch"] <= slow_to]
moved = [r["epoch"] for r in under if r["partition_generation"] != gen0]
# before: the limited epochs on the map the limit found (the first epoch of a run reads caches
# cold and lbfgs's first line search differs: skipped); after: the last 4 limited epochs.
before = [r for r in under if r["partition_generation"] == gen0 and r["epoch"] > 1]
after = under[-4:]
out = {"dataset": ds, "ranks": int(n), "case": case,
       "quota_cpus": float(quota) if case.startswith(("slow", "mid")) else None,
       "hook_us": [int(hook_us)] * (int(n) - 1) + [2 * int(hook_us)] if case.startswith("hook") else None,
       "epochs_limited": [slow_from, slow_to] if case.startswith(("slow", "mid", "hook")) else None,
       "before": figures(before), "after": figures(after),
       "ideal_compute_s_per_pass": med([ideal(r) for r in after if ideal(r)]),
       # the slowest rank's speed over the fastest's, as measured (1 : 0.5 is 0.5)
       "speed_ratio": med([min(speeds(r)) / max(speeds(r)) for r in after if max(speeds(r)) > 0]),
       "unbalanced_epochs": (moved[0] - slow_from) if moved else None,
       "first_balanced_epoch": moved[0] if moved else None,
       "partition_generations": [r["partition_generation"] for r in rows],
       "rows_after": after[-1]["rank_rows"],
       # seconds outside the epochs: reading moved rows, checkpoints, publication
       "boundary_s": round(rows[-1]["wall_s"] - sum(r["epoch_s"] for r in rows), 3),
       "wall_s": round(rows[-1]["wall_s"], 3), "cpu": cpu, "load": load, "nice": int(nice),
       "pinned": pinned == "1"}
a, i = out["after"]["slowest_compute_s_per_pass"], out["ideal_compute_s_per_pass"]
out["after_over_ideal"] = round(a / i, 3) if a and i else None
b = out["before"]["epoch_s_per_pass"]
out["speedup_before_over_after"] = round(b / out["after"]["epoch_s_per_pass"], 3) if b else None
if mid:
    end = [r for r in rows if r["epoch"] > mid_to]
    back = [r["epoch"] for r in end if r["partition_generation"] != end[0]["partition_generation"]]
    out["end"] = figures(end[-4:])
    out["first_rebalanced_epoch_after_limit"] = back[0] if back else None
print(json.dumps(out))
EOF
}

for ds in $DATASETS; do
  for n in $WORLDS; do
    for c in $CASES; do
      run_case "$ds" "$n" "$c"
    done
  done
done
