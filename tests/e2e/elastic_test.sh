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
wait_any() {  # LOG-PREFIX REGEX SECONDS: REGEX in any $WORK/PREFIX?.log
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -Eq "$2" "$WORK"/"$1"?.log 2>/dev/null && return 0
    sleep 0.05
  done
  fail "'$2' did not appear in $WORK/$1?.log within $3 s"
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
wait_any k "recovery: .* of 3 ranks resumes from epoch" 20
t_rec=$(date +%s.%N)
echo "measure: sigkill_to_resumed_s $(awk -v a="$t_rec" -v b="$t_kill" 'BEGIN{printf "%.2f", a-b}') session_timeout_ms $RINGTRAIN_ZK_SESSION_TIMEOUT_MS"
start_rank k4 "$job" --min-ranks 3 --max-ranks 4 \
  --metrics "$WORK/k.jsonl" --output "$WORK/k.model"
wait_any k "recovery: .* of 4 ranks resumes from epoch" 20
for i in 0 1 3 4; do
  wait_exit "${PIDS[$i]}" 60
  ((RC == 0)) || fail "process k$i exited $RC: $(tail -3 "$WORK/k$i.log")"
done
grep -h "recovery:" "$WORK"/k?.log
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

# --- 2. SIGSTOP one of 3 past the session timeout ---
job=$(job_name stop)
PIDS=()
for r in 0 1 2; do
  start_rank "s$r" "$job" --min-ranks 2 --max-ranks 3 --metrics "$WORK/s.jsonl"
done
wait_text "$WORK/s.jsonl" '"epoch":6,' 30
stopped=${PIDS[1]}
kill -STOP "$stopped"
wait_any s "recovery: .* of 2 ranks resumes from epoch" 20
sleep 1
kill -CONT "$stopped"
wait_exit "$stopped" 25
stopped_rc=$RC
((RC != 0)) || fail "the stopped rank exited 0 after being fenced out"
grep -Eiq "ERROR.*(expired|no new ring)" "$WORK/s1.log" || fail "the stopped rank's exit says nothing: $(tail -2 "$WORK/s1.log")"
echo "stopped rank: exit $RC: $(grep ERROR "$WORK/s1.log" | tail -1)"
for i in 0 2; do
  wait_exit "${PIDS[$i]}" 60
  ((RC == 0)) || fail "process s$i exited $RC: $(tail -3 "$WORK/s$i.log")"
done
last_ws=$(json_field "$WORK/s.jsonl" world_size)
[[ $last_ws == 2 ]] || fail "the job did not finish with 2 ranks (world_size $last_ws)"
pass "SIGSTOP past the session timeout: 2 ranks finished, the stopped one exited $stopped_rc"

# --- 3. below --min-ranks: exit 4 naming why ---
job=$(job_name below)
PIDS=()
for r in 0 1 2; do
  start_rank "b$r" "$job" --min-ranks 2 --max-ranks 3 --metrics "$WORK/b.jsonl" --timeout 6
done
wait_text "$WORK/b.jsonl" '"epoch":4,' 30
kill -KILL "${PIDS[1]}" "${PIDS[2]}"
t0=$SECONDS
wait_exit "${PIDS[0]}" 20
((RC == 4)) || fail "the survivor below --min-ranks exited $RC, expected 4: $(tail -2 "$WORK/b0.log")"
grep -q "ERROR.*min-ranks 2" "$WORK/b0.log" || fail "the exit does not name --min-ranks: $(tail -1 "$WORK/b0.log")"
# Both killed ranks are named when their departures land together; when ZooKeeper drops one
# ephemeral node a moment before the other, the survivor first re-forms a ring of 2 (still
# >= --min-ranks) and the exit names the one missing from that ring.
grep -Eq "ERROR.*missing: rank [0-9] \([0-9.]+:[0-9]+, pid [0-9]+\)" "$WORK/b0.log" || fail "the exit does not say who is missing: $(tail -1 "$WORK/b0.log")"
for pid in $(grep -E "ERROR.*missing: " "$WORK/b0.log" | grep -oE "pid [0-9]+" | cut -d' ' -f2); do
  [[ $pid == "${PIDS[1]}" || $pid == "${PIDS[2]}" ]] || fail "the exit names pid $pid, not a killed rank (${PIDS[1]}, ${PIDS[2]})"
done
echo "below min-ranks: exit 4 after $((SECONDS - t0)) s: $(grep ERROR "$WORK/b0.log" | tail -1)"
pass "below --min-ranks: exit 4 naming the missing ranks"
