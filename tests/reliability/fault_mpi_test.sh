#!/usr/bin/env bash
# tests/reliability/fault_mpi_test.sh — SIGKILL of a rank mid-training under mpirun (3 ranks,
# MPI transport). Expected (DESIGN.md: under mpirun a lost rank ends the job with a clear
# message): mpirun exits non-zero within 30 s naming the killed MPI rank, and every rank
# process is gone within 30 s of the kill (none left behind). Prints "measure:" lines.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/rel_lib.sh"
start_zk
job=$(job_name mpikill)
mpirun --oversubscribe -np 3 "$BIN" train --zk "$ZK" --job "$job" --data "$HEART" \
  --optimizer sgd --batch-size 8 --epochs 100000000 --threads 1 --timeout 60 \
  >"$WORK/mpirun.log" 2>&1 &
mp=$!
on_exit "kill -KILL $mp 2>/dev/null"
wait_for_text "$WORK/mpirun.log" " epoch 20/" 60
mapfile -t pids < <("$BIN" status --zk "$ZK" --job "$job" --json |
  python3 -c 'import json,sys; [print(m["pid"], m["mpi_rank"]) for m in json.load(sys.stdin)["ring"]]')
((${#pids[@]} == 3)) || fail "ring of 3 not found in status: ${pids[*]}"
all=()
for line in "${pids[@]}"; do
  read -r pid mrank <<<"$line"
  all+=("$pid")
  on_exit "kill -KILL $pid 2>/dev/null"
  [[ $mrank == 2 ]] && victim=$pid
done
kill -KILL "$victim"
t0=$(date +%s.%N)
wait_pid "$mp" 30
echo "measure: mpirun_exit_s $WSECS code $WRC"
((WRC != 0)) || fail "mpirun exited 0 after a rank was killed"
grep -q "rank 2" "$WORK/mpirun.log" || fail "mpirun does not name rank 2: $(tail -n 5 "$WORK/mpirun.log")"
for pid in "${all[@]}"; do
  for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  echo "measure: rank_pid_gone_s $pid $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')"
done
assert_gone "${all[@]}"
pass "mpirun: killed rank 2 ends the job, nothing left behind"
