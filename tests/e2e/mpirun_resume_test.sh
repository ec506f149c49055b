#!/usr/bin/env bash
# Resume through scripts/mpirun.sh as a user would: a run stopped after epoch 12 (checkpoint
# every 10 by default), rerun with --job NAME --resume and more epochs, ends with the same
# model bits as a run never stopped. The script's own ZooKeeper keeps its state in the run
# folder, which is what lets the second invocation find the checkpoint record.
source "$(dirname "$0")/lib.sh"
export TMPDIR=$WORK
fm=(-np 2 --C 1 --optimizer lbfgs --balance off)  # lbfgs: 20 epochs, none converged early;
# --balance off: a move made on measured (noisy) speeds in one run and not the other changes bits
a=$(job_name mra)
b=$(job_name mrb)
on_exit "rm -rf '$E2E_ROOT/runs/$a' '$E2E_ROOT/runs/$b'"
"$E2E_ROOT/scripts/mpirun.sh" "${fm[@]}" --job "$a" --epochs 20 >"$WORK/a.log" 2>&1 ||
  fail "uninterrupted run failed: $(tail -3 "$WORK/a.log")"
"$E2E_ROOT/scripts/mpirun.sh" "${fm[@]}" --job "$b" --epochs 12 >"$WORK/b1.log" 2>&1 ||
  fail "first part failed: $(tail -3 "$WORK/b1.log")"
[[ -s $E2E_ROOT/runs/$b/checkpoints/$b-epoch-0000000010.ckpt ]] || fail "no checkpoint of epoch 10"
"$E2E_ROOT/scripts/mpirun.sh" "${fm[@]}" --job "$b" --epochs 20 --resume >"$WORK/b2.log" 2>&1 ||
  fail "resumed run failed: $(tail -3 "$WORK/b2.log")"
grep -q "resuming job $b from epoch 10" "$WORK/b2.log" || fail "did not resume from epoch 10"
cmp -s "$E2E_ROOT/runs/$a/model.bin" "$E2E_ROOT/runs/$b/model.bin" ||
  fail "resumed model differs from the uninterrupted one"
pgrep -f "runs/$b/zk" >/dev/null && fail "the script's ZooKeeper is still running"
pass "mpirun.sh --resume: model bits equal the uninterrupted run's"
