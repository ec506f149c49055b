#!/usr/bin/env bash
# scripts/mpirun.sh as a user runs it: builds, starts its own ZooKeeper, trains on
# Fashion-MNIST under mpirun, prints a last line with test_accuracy=, writes model and
# metrics in the run folder, and stops its ZooKeeper.
#   mpirun_fashion_test.sh short   CI variant: fewer epochs, test accuracy >= 0.80
#   mpirun_fashion_test.sh full    the default job unchanged: test accuracy >= 0.84 (label long)
source "$(dirname "$0")/lib.sh"
variant=${1:-short}
export TMPDIR=$WORK
job=$(job_name "fm$variant")
args=(--job "$job")
min_acc=0.84
if [[ $variant == short ]]; then
  args+=(-np 2 --epochs 40)
  min_acc=0.80
fi
on_exit "rm -rf '$E2E_ROOT/runs/$job'"
"$E2E_ROOT/scripts/mpirun.sh" "${args[@]}" >"$WORK/out.log" 2>&1 ||
  fail "mpirun.sh failed: $(tail -5 "$WORK/out.log")"
last=$(tail -n 1 "$WORK/out.log")
[[ $last == summary* ]] || fail "last line is not the summary: $last"
acc=$(grep -o 'test_accuracy=[0-9.]*' <<<"$last" | cut -d= -f2)
[[ -n $acc ]] || fail "no test_accuracy= in the summary: $last"
le "$min_acc" "$acc" || fail "test accuracy $acc < $min_acc"
[[ -s $E2E_ROOT/runs/$job/model.bin && -s $E2E_ROOT/runs/$job/metrics.jsonl ]] ||
  fail "model or metrics missing in runs/$job"
grep -q 'epoch [0-9]*/' "$WORK/out.log" || fail "no per-epoch progress printed"
ls -d "$WORK"/ringtrain-zk.* >/dev/null 2>&1 && fail "mpirun.sh left its ZooKeeper dir behind"
pass "mpirun.sh ($variant): $last"
