#!/usr/bin/env bash
# tests/e2e/resume_test.sh — scripts/launch.sh -n 2 stopped after epoch 4 (--epochs 4
# --checkpoint-every 4) and rerun with --resume (--epochs 10) writes the same model bytes as an
# uninterrupted launch.sh run of 10 epochs (lbfgs, heart_scale); the rerun says it resumed.
source "$(dirname "$0")/lib.sh"
start_zk
args=(--data "$HEART" --bias --C 1 --tol 1e-12 --optimizer lbfgs)

"$E2E_ROOT/scripts/launch.sh" -n 2 -- train --job "$(job_name rfull)" --zk "$ZK" "${args[@]}" \
  --epochs 10 --output "$WORK/full.model" >"$WORK/full.log" 2>&1 ||
  fail "uninterrupted run failed: $(tail -5 "$WORK/full.log")"
job=$(job_name resume)
"$E2E_ROOT/scripts/launch.sh" -n 2 -- train --job "$job" --zk "$ZK" "${args[@]}" --epochs 4 \
  --checkpoint-every 4 --checkpoint-dir "$WORK/ck" >"$WORK/part.log" 2>&1 ||
  fail "first part failed: $(tail -5 "$WORK/part.log")"
"$E2E_ROOT/scripts/launch.sh" -n 2 -- train --job "$job" --zk "$ZK" "${args[@]}" --epochs 10 \
  --checkpoint-every 4 --checkpoint-dir "$WORK/ck" --resume --output "$WORK/resumed.model" \
  >"$WORK/resumed.log" 2>&1 || fail "resumed run failed: $(tail -5 "$WORK/resumed.log")"
grep -q "resuming job $job from epoch 4" "$WORK/resumed.log" || fail "the rerun did not resume from 4"
! grep -q "epoch 3/10" "$WORK/resumed.log" || fail "the rerun redid epoch 3"
a=$(cksum <"$WORK/full.model") b=$(cksum <"$WORK/resumed.model")
[[ $a == "$b" ]] || fail "resumed model ($b) differs from the uninterrupted one ($a)"
pass "launch.sh: stopped after 4 + --resume == uninterrupted 10 epochs (cksum $a)"
