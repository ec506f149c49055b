#!/usr/bin/env bash
# scripts/bench_train.sh — ringtrain train beside liblinear-train, in one run, on Fashion-MNIST
# converted to LIBSVM text (scripts/fashion_to_libsvm.sh): 0-vs-rest binary and 10-class, at
# the same C, bias (-B 1) and stopping rule (-e / --tol 0.01 by default), for 1 and 2 ranks.
# One JSON line per run: wall time including reading the data, final objective (liblinear's
# model scored with OUR objective by bench/train_bench), test accuracy, peak RSS per rank.
#
#   scripts/bench_train.sh [BUILD_DIR]        (default build/main; builds ringtrain, train_bench)
#   CASES="binary multiclass" LOSSES="logistic squared_hinge" RANKS="1 2" C=1 TOL=0.01 RT_TOL=
#   OPTIMIZERS="tron lbfgs" (each at every rank count; liblinear runs once per case and loss)
#   BENCH_DIR=/tmp/ringtrain-bench (converted data is cached there)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/main}
work=${BENCH_DIR:-/tmp/ringtrain-bench}
cases=${CASES:-binary multiclass}
losses=${LOSSES:-logistic}
ranks_list=${RANKS:-1 2}
optimizers=${OPTIMIZERS:-tron lbfgs}
C=${C:-1}
TOL=${TOL:-0.01}        # liblinear's -e
RT_TOL=${RT_TOL:-$TOL}  # our --tol (same rule; L-BFGS needs a tighter one to match TRON's objective)
mkdir -p "$work"
cmake --build "$build" --target ringtrain train_bench -j2 >/dev/null
rt=$build/src/cli/ringtrain
scorer=$build/bench/train_bench

[[ -s $work/fashion-train.svm ]] || "$root/scripts/fashion_to_libsvm.sh" "$work" >/dev/null
[[ -s $work/fashion-train-0vr.svm ]] || "$root/scripts/fashion_to_libsvm.sh" "$work" --binary >/dev/null

zk_dir=""
cleanup() { [[ -n $zk_dir ]] && "$root/scripts/zk.sh" stop "$zk_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM
eval "$("$root/scripts/zk.sh" start)"
zk_dir=$ZK_DIR

# The machine is shared: record the load at the start so side-by-side ratios can be judged.
read -r load1 load5 load15 _ < /proc/loadavg
printf '{"tool":"machine","cores":%s,"load1":%s,"load5":%s,"load15":%s}\n' "$(nproc)" "$load1" "$load5" "$load15"

# "wall_s peak_kb" of a /usr/bin/time -f '%e %M' output file
read_time() { tail -1 "$1"; }

for case in $cases; do
  if [[ $case == binary ]]; then
    train=$work/fashion-train-0vr.svm test=$work/fashion-test-0vr.svm
  else
    train=$work/fashion-train.svm test=$work/fashion-test.svm
  fi
  for loss in $losses; do
    solver=0; model=lr
    [[ $loss == squared_hinge ]] && solver=2 && model=svm
    # liblinear (its stopping tolerance -e equals our --tol; -B 1 is our --bias).
    /usr/bin/time -f '%e %M' -o "$work/time.ll" \
      liblinear-train -q -s $solver -c "$C" -B 1 -e "$TOL" "$train" "$work/ll.model"
    read -r ll_wall ll_kb < <(read_time "$work/time.ll")
    score=$("$scorer" --liblinear-model "$work/ll.model" --data "$train" --test-data "$test" \
      --C "$C" --loss "$loss")
    ll_obj=$(echo "$score" | python3 -c 'import json,sys; print(json.load(sys.stdin)["objective"])')
    ll_acc=$(echo "$score" | python3 -c 'import json,sys; print(json.load(sys.stdin)["test_accuracy"])')
    printf '{"tool":"liblinear-train","case":"%s","loss":"%s","ranks":1,"wall_s":%s,"objective":%s,"test_accuracy":%s,"peak_rss_mb":[%.1f]}\n' \
      "$case" "$loss" "$ll_wall" "$ll_obj" "$ll_acc" "$(echo "$ll_kb/1024" | bc -l)"

    for opt in $optimizers; do
    for ranks in $ranks_list; do
      rm -f "$work/m.jsonl" "$work"/time.rt.*
      common=(--log-level warn train --data "$train" --format libsvm --test-data "$test" --model $model
              --loss "$loss" --C "$C" --bias --optimizer "$opt" --tol "$RT_TOL" --epochs 2000 --eval-every 100000
              --metrics "$work/m.jsonl" --output "$work/rt.model")
      start=$(date +%s.%N)
      if [[ $ranks == 1 ]]; then
        /usr/bin/time -f '%e %M' -o "$work/time.rt.0" "$rt" "${common[@]}"
      else
        job=bench-$$-$case-$loss-$opt-$ranks
        pids=()
        for ((r = 0; r < ranks; r++)); do
          /usr/bin/time -f '%e %M' -o "$work/time.rt.$r" "$rt" "${common[@]}" --zk "$ZK_CONNECT" \
            --job "$job" --ranks "$ranks" &
          pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
      fi
      wall=$(echo "$(date +%s.%N) - $start" | bc -l)
      rss=""
      for ((r = 0; r < ranks; r++)); do
        read -r _ kb < <(read_time "$work/time.rt.$r")
        rss+="${rss:+,}$(printf '%.1f' "$(echo "$kb/1024" | bc -l)")"
      done
      python3 - "$work/m.jsonl" "$case" "$loss" "$ranks" "$wall" "$rss" "$ll_obj" "$ll_wall" "$ll_acc" "$opt" <<'PY'
import json, sys
path, case, loss, ranks, wall, rss, ll_obj, ll_wall, ll_acc, opt = sys.argv[1:]
last = [l for l in open(path) if l.strip()][-1]
m = json.loads(last)
out = {"tool": "ringtrain", "optimizer": opt, "case": case, "loss": loss, "ranks": int(ranks),
       "wall_s": round(float(wall), 3), "epochs": m["epoch"], "objective": m["objective"],
       "test_accuracy": m["test_accuracy"], "peak_rss_mb": [float(x) for x in rss.split(",")],
       "objective_rel_to_liblinear": (m["objective"] - float(ll_obj)) / float(ll_obj),
       "wall_ratio_to_liblinear": round(float(wall) / float(ll_wall), 3),
       "test_accuracy_minus_liblinear": m["test_accuracy"] - float(ll_acc)}
print(json.dumps(out))
PY
    done
    done
  done
done
