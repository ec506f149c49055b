#!/usr/bin/env bash
# tests/e2e/elastic_test.sh — elastic recovery over TCP (--min-ranks 3 --max-ranks 4,
# lbfgs on heart_scale, checkpoints every 2 epochs, epochs slowed by RINGTRAIN_FAULT
# epoch-delay so the run lasts seconds; ZooKeeper session timeout 2 s):
#  1. 4 ranks; SIGKILL one mid-run -> the survivors re-form with 3 (the leader logs the
#     recovery: cause, generation, epoch resumed from), then a 5th process joins -> the job
#     continues with 4; the metrics JSONL shows world_size 4, 3, 4 with growing generations;
#     every remaining process exits 0 and the final objective is within 1e-3 relative of an
#     uninterrupted standalone run;
#  2. 3 ranks (--min-ranks 2): SIGSTOP one past the session timeout -> the other two go on
#     with 2 and finish; the stopped one, continued, is fenced out and exits non-zero with a
#     message, never joining the new ring;
#  3. below --min-ranks: 2 of 3 killed -> the survivor exits 4 within --timeout naming why.
# Prints "measure:" lines (SIGKILL -> training resumed).
source "$(dirname "$0")/lib.sh"
start_zk
export RINGTRAIN_ZK_SESSION_TIMEOUT_MS=2000
args=(--data "$HEART" --bias --C 100 --tol 1e-300 --optimizer lbfgs --threads 1 --epochs 200
      --timeout 20)

"$BIN" train "${args[@]}" --metrics "$WORK/ref.jsonl" 2>"$WORK/ref.log" || fail "reference run failed"
ref=$(json_field "$WORK/ref.jsonl" objective)

wait_text() {  # FILE REGEX SECONDS
  local i
  for ((i = 0; i < $3 * 20; i++)); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "'$2' did not appear in $1 within $3 s: $(tail -3 "$1")"
}
wait_exit() {  # PID SECONDS -> sets RC
  timeout "$2" tail --pid="$1" -f /dev/null || fail "pid $1 did not exit within $2 s"
  RC=0
  wait "$1" || RC=$?
}
start_rank() {  # NAME JOB extra... -> appends to PIDS
  local name=$1 job=$2; shift 2
  RINGTRAIN_FAULT=epoch-delay:150 "$BIN" train --zk "$ZK" --job "$job" "${args[@]}" \
    --checkpoint-every 2 --checkpoint-dir "$WORK/ck-$job" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  on_exit "kill -KILL $! 2>/dev/null; kill -CONT $! 2>/dev/null"
}

# --- 1. kill one of 4, then a 5th joins ---
job=$(job_name elastic)
PIDS=()
for r in 0 1 2 3; do
  start_rank "k$r" "$job" --min-ranks 3 --max-ranks 4 \
    --metrics "$WORK/k.jsonl" --output "$WORK/k.model"
done
wait_text "$WORK/k.jsonl" '"epoch":6,' 30
victim=${PIDS[2]}
kill -KILL "$victim"
t_kill=$(date +%s.%N)
leader_log=$(grep -l "ring of 4 formed" "$WORK"/k?.log | head -1)
[[ -n $leader_log ]] || fail "no leader log"
wait_text "$leader_log" "recovery: .* of 3 ranks resumes from epoch" 20
t_rec=$(date +%s.%N)
echo "measure: sigkill_to_resumed_s $(awk -v a="$t_rec" -v b="$t_kill" 'BEGIN{printf "%.2f", a-b}') session_timeout_ms $RINGTRAIN_ZK_SESSION_TIMEOUT_MS"
start_rank k4 "$job" --min-ranks 3 --max-ranks 4 \
  --metrics "$WORK/k.jsonl" --output "$WORK/k.model"
wait_text "$leader_log" "recovery: .* of 4 ranks resumes from epoch" 20
for i in 0 1 3 4; do
  wait_exit "${PIDS[$i]}" 60
  ((RC == 0)) || fail "process k$i exited $RC: $(tail -3 "$WORK/k$i.log")"
done
grep "recovery:" "$leader_log"
# (generation, world_size) runs in the metrics, generations increasing.
ws=$(python3 -c 'import json,sys
runs=[]
for l in open(sys.argv[1]):
    j=json.loads(l); k=(j["generation"], j["world_size"])
    if not runs or runs[-1]!=k: runs.append(k)
assert all(a[0]<b[0] for a,b in zip(runs,runs[1:])), runs
print(" ".join(str(w) for g,w in runs), end=" ")' "$WORK/k.jsonl") || fail "generations do not grow"
[[ $ws == "4 3 4 " ]] || fail "world sizes in the metrics: '$ws', expected '4 3 4 '"
obj=$(json_field "$WORK/k.jsonl" objective)
d=$(rel_diff "$ref" "$obj")
le "$d" 1e-3 || fail "final objective $obj vs uninterrupted $ref: relative difference $d"
pass "killed 1 of 4 -> 3 ranks, a 5th joined -> 4; objective $obj vs $ref ($d)"
