#!/usr/bin/env bash
# tests/checkpoint/mpirun_test.sh — under mpirun (MPI transport, not elastic) SIGKILL of one
# rank mid-run: mpirun exits non-zero within 30 s naming the lost rank, and no rank process is
# left; rerunning the same command with --resume continues from the recorded checkpoint and
# ends with the same model bytes as an uninterrupted mpirun run.
source "$(dirname "$0")/../e2e/lib.sh"
start_zk
args=(--data "$HEART" --optimizer sgd --batch-size 8 --epochs 6000 --threads 1 --timeout 30
      --eval-every 1000)

mpirun --oversubscribe -np 3 "$BIN" train --zk "$ZK" --job "$(job_name mfull)" "${args[@]}" \
  --output "$WORK/full.model" >"$WORK/full.log" 2>&1 || fail "uninterrupted mpirun failed"

job=$(job_name mkill)
mpirun --oversubscribe -np 3 "$BIN" train --zk "$ZK" --job "$job" "${args[@]}" \
  --checkpoint-every 250 --checkpoint-dir "$WORK/ck" --output "$WORK/res.model" \
  >"$WORK/run1.log" 2>&1 &
mp=$!
on_exit "kill -KILL $mp 2>/dev/null"
for ((i = 0; i < 600; i++)); do
  grep -q "checkpoint epoch 500 " "$WORK/run1.log" && break
  kill -0 "$mp" 2>/dev/null || fail "mpirun ended before epoch 500: $(tail -3 "$WORK/run1.log")"
  sleep 0.05
done
grep -q "checkpoint epoch 500 " "$WORK/run1.log" || fail "no checkpoint of epoch 500 within 30 s"
mapfile -t members < <("$BIN" status --zk "$ZK" --job "$job" --json |
  python3 -c 'import json,sys; [print(m["pid"], m["mpi_rank"]) for m in json.load(sys.stdin)["ring"]]')
((${#members[@]} == 3)) || fail "ring of 3 not found in status"
pids=()
for line in "${members[@]}"; do
  read -r pid mrank <<<"$line"
  pids+=("$pid")
  on_exit "kill -KILL $pid 2>/dev/null"
  [[ $mrank == 1 ]] && victim=$pid
done
kill -KILL "$victim"
t0=$SECONDS
rc=0
timeout 30 tail --pid="$mp" -f /dev/null || fail "mpirun still running 30 s after the kill"
wait "$mp" || rc=$?
((rc != 0)) || fail "mpirun exited 0 after rank 1 was killed"
grep -Eq "rank 1|member rank 1" "$WORK/run1.log" || fail "nothing names the lost rank 1: $(tail -5 "$WORK/run1.log")"
for pid in "${pids[@]}"; do
  for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "rank pid $pid is still alive 10 s after mpirun ended"
done
echo "measure: mpirun exit code $rc, $((SECONDS - t0)) s after the kill"

mpirun --oversubscribe -np 3 "$BIN" train --zk "$ZK" --job "$job" "${args[@]}" \
  --checkpoint-every 250 --checkpoint-dir "$WORK/ck" --output "$WORK/res.model" --resume \
  >"$WORK/run2.log" 2>&1 || fail "mpirun --resume failed: $(tail -5 "$WORK/run2.log")"
from=$(grep -o "resuming job $job from epoch [0-9]*" "$WORK/run2.log" | grep -o '[0-9]*$')
[[ -n $from ]] && ((from >= 500)) || fail "the rerun did not resume from a checkpoint >= 500"
a=$(cksum <"$WORK/full.model") b=$(cksum <"$WORK/res.model")
[[ $a == "$b" ]] || fail "resumed model ($b) differs from the uninterrupted one ($a)"
pass "mpirun: killed rank 1 -> exit $rc, nothing left; --resume from $from == uninterrupted"
