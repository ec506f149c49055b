#!/usr/bin/env bash
# bench/checkpoint_bench.sh — checkpoint overhead and elastic recovery time, JSON lines.
#
#   bench/checkpoint_bench.sh [BUILD_DIR]     (default build/main; builds ringtrain)
#   RANKS=2 EPOCHS=20 SESSION_TIMEOUTS="2000 10000"
#
# 1. overhead: Fashion-MNIST (IDX, 10-class OVR lbfgs, RANKS ranks over ZooKeeper + TCP),
#    --checkpoint-every 1 vs no checkpoints: the training thread's cost at the epoch boundary
#    (copy of the state + queueing for the background writer) as a share of the epoch time;
#    the writer's own write (encode + atomic write with fsyncs) and record (fenced multi-op +
#    prune) times, with the share they would cost if done on the training thread; and the
#    end-to-end epoch time against a run without checkpoints.
# 2. recovery: 4 elastic ranks (--min-ranks 3) on heart_scale, slowed with RINGTRAIN_FAULT
#    epoch-delay; SIGKILL of a non-first rank -> the leader's "recovery:" line (training
#    resumed in the new generation), for each ZooKeeper session timeout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/main}
ranks=${RANKS:-2}
epochs=${EPOCHS:-20}
cmake --build "$build" --target ringtrain -j2 >/dev/null
rt=$build/src/cli/ringtrain
fm=/usr/share/datasets/fashion-mnist
heart=/usr/share/doc/liblinear-tools/examples/heart_scale
work=$(mktemp -d /tmp/ringtrain-ckbench.XXXXXX)
eval "$("$root/scripts/zk.sh" start)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  "$root/scripts/zk.sh" stop "$ZK_DIR" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. overhead ---
# Two runs of the same job shape: without checkpoints (baseline) and with --checkpoint-every 1.
run_fm() {  # run_fm TAG EXTRA... -> $work/TAG-m.jsonl, $work/TAG-o<r>.log
  local tag=$1 r
  shift
  for ((r = 0; r < ranks; r++)); do
    "$rt" train --zk "$ZK_CONNECT" --job "ckbench-$tag-$$" --ranks "$ranks" \
      --data "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" \
      --format idx --optimizer lbfgs --tol 1e-9 --epochs "$epochs" --eval-every 1000 --threads 1 \
      --metrics "$work/$tag-m.jsonl" "$@" >"$work/$tag-o$r.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  pids=()
}
# Alternated ROUNDS times (default 2) so machine load shifts hit both alike.
for ((round = 1; round <= ${ROUNDS:-2}; round++)); do
  run_fm "base$round"
  run_fm "ck$round" --checkpoint-every 1 --keep 3 --checkpoint-dir "$work/ck$round"
done
python3 - "$work" "$ranks" <<'PY'
import glob, json, re, sys
work, ranks = sys.argv[1], int(sys.argv[2])
w, rec, bnd, size = [], [], [], 0
for f in glob.glob(work + "/ck*-o*.log"):
    for l in open(f):
        m = re.search(r"checkpoint epoch \d+ \S+: (\d+) bytes, written in ([\d.]+) ms, recorded in ([\d.]+) ms \(in the background; epoch boundary ([\d.]+) ms\)", l)
        if m:
            size = int(m.group(1)); w.append(float(m.group(2))); rec.append(float(m.group(3))); bnd.append(float(m.group(4)))
mean = lambda v: sum(v) / len(v)
ep = [json.loads(l)["epoch_s"] for f in glob.glob(work + "/ck*-m.jsonl") for l in open(f)]
base = [json.loads(l)["epoch_s"] for f in glob.glob(work + "/base*-m.jsonl") for l in open(f)]
median = lambda v: sorted(v)[len(v) // 2]
# epoch_s is measured before the after_epoch hook, so a hook cost is hook / (epoch + hook).
e_ms = 1e3 * mean(ep)
print(json.dumps({"bench": "checkpoint_overhead", "data": "fashion-mnist 10-class ovr lbfgs",
  "ranks": ranks, "epochs": len(ep), "checkpoints": len(w), "checkpoint_bytes": size,
  "write_ms_mean": round(mean(w), 3), "record_ms_mean": round(mean(rec), 3),
  "boundary_ms_mean": round(mean(bnd), 3), "epoch_s_mean": round(mean(ep), 4),
  "epoch_s_mean_without_checkpoints": round(mean(base), 4),
  # the training thread's share now (copy + queue at the epoch boundary)
  "overhead_share_pct": round(100 * mean(bnd) / (e_ms + mean(bnd)), 3),
  # what the same write + record would cost on the training thread (the old, synchronous way)
  "synchronous_share_pct": round(100 * (mean(w) + mean(rec)) / (e_ms + mean(w) + mean(rec)), 3),
  # end to end: median (epoch + boundary) with checkpoints vs median epoch without (includes CPU contention
  # from the writer thread; noisy on a shared machine)
  "epoch_s_median": round(median(ep), 4), "epoch_s_median_without_checkpoints": round(median(base), 4),
  "end_to_end_pct": round(100 * ((1e3 * median(ep) + mean(bnd)) / (1e3 * median(base)) - 1), 3),
  "target_pct": 2}))
PY

# --- 2. recovery time ---
for st in ${SESSION_TIMEOUTS:-2000 10000}; do
  job=ckrec-$st-$$
  : >"$work/r.jsonl"
  for r in 0 1 2 3; do
    RINGTRAIN_ZK_SESSION_TIMEOUT_MS=$st RINGTRAIN_FAULT=epoch-delay:100 "$rt" train \
      --zk "$ZK_CONNECT" --job "$job" --min-ranks 3 --max-ranks 4 --data "$heart" --C 100 \
      --optimizer lbfgs \
      --tol 1e-300 --epochs 400 --threads 1 --timeout 60 --metrics "$work/r.jsonl" \
      >"$work/r$r.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < 600; i++)); do grep -q '"epoch":5,' "$work/r.jsonl" && break; sleep 0.05; done
  kill -KILL "${pids[2]}"
  t0=$(date +%s.%N)
  for ((i = 0; i < 2000; i++)); do grep -q "recovery:" "$work"/r?.log && break; sleep 0.01; done
  t1=$(date +%s.%N)
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  awk -v a="$t1" -v b="$t0" -v st="$st" 'BEGIN { printf "{\"bench\": \"sigkill_to_resumed\", \"ranks\": \"4->3\", \"session_timeout_ms\": %d, \"seconds\": %.3f, \"target_s\": %.1f}\n", st, a - b, st / 1000 + 5 }'
done
