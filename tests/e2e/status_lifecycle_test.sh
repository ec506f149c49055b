#!/usr/bin/env bash
# A job's life is visible (issue 12 item 4), real processes on a real server:
# running (while it trains), finished (final epoch, objective, model path, time), failed (a
# killed rank: the survivor's cause and who reported it), abandoned (every process killed,
# nothing recorded), and `ringtrain status` without --job listing them with their state,
# generation, live members, latest checkpoint and last change (text and JSON).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../reliability/rel_lib.sh"
start_zk
cd "$WORK"
export RINGTRAIN_ZK_SESSION_TIMEOUT_MS=2000
common=(--data "$HEART" --zk "$ZK" --ranks 2 --timeout 30)
# Field PATH (a.b.0) of the JSON on stdin.
jget() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=d[int(k)] if isinstance(d,list) else d[k]
print(json.dumps(d) if isinstance(d,(dict,list)) or d is None else d)' "$1"; }
state_of() { "$BIN" status --zk "$ZK" --job "$1" --json | jget state; }
# The list's entry of job $1 (JSON).
listed() { "$BIN" status --zk "$ZK" --json | python3 -c 'import json,sys
for e in json.load(sys.stdin)["jobs"]:
    if e["job"] == sys.argv[1]: print(json.dumps(e))' "$1"; }
# Two ranks of job $1 in the background (extra args after), slowed so they can be watched.
start_two() {
  local job=$1 i
  shift
  PIDS=()
  for i in 0 1; do
    RINGTRAIN_FAULT=epoch-delay:100 "$BIN" train "${common[@]}" --job "$job" --optimizer sgd \
      "$@" >"$job.$i.out" 2>"$job.$i.err" &
    PIDS+=($!)
  done
}
wait_state() {  # JOB STATE TIMEOUT_S
  local i s=""
  for ((i = 0; i < $3 * 10; i++)); do
    s=$(state_of "$1" 2>/dev/null || true)
    [[ $s == "$2" ]] && return 0
    sleep 0.1
  done
  fail "job $1: state '$s', want '$2' within $3 s"
}

# --- running, then finished ---
fin=$(job_name fin)
start_two "$fin" --epochs 30 --checkpoint-every 5 --checkpoint-dir "$WORK/ck" \
  --output "$WORK/fin.model"
wait_state "$fin" running 20
e=$(listed "$fin")
[[ $(jget state <<<"$e") == running && $(jget live_members <<<"$e") == 2 &&
   $(jget generation <<<"$e") == 1 ]] || fail "the list does not show $fin running with 2 live: $e"
# (output captured first: `status | grep -q` under pipefail fails when grep stops reading)
text=$("$BIN" status --zk "$ZK")
grep -qE "^  $fin +running +1 +2 " <<<"$text" || fail "text list: $text"
pass "running: status and the job list show it with 2 live members"
for p in "${PIDS[@]}"; do wait_pid "$p" 60; [[ $WRC -eq 0 ]] || fail "a rank of $fin exited $WRC"; done
s=$("$BIN" status --zk "$ZK" --job "$fin" --json)
[[ $(jget state <<<"$s") == finished ]] || fail "after the run: $(jget state <<<"$s")"
[[ $(jget outcome.final_epoch <<<"$s") == 30 ]] || fail "final epoch: $(jget outcome <<<"$s")"
[[ $(jget outcome.model_path <<<"$s") == "$WORK/fin.model" ]] || fail "model path: $(jget outcome <<<"$s")"
obj=$(jget outcome.objective <<<"$s")
want=$(grep -o 'objective [0-9.e+-]*' "$fin.0.err" "$fin.1.err" | tail -1 | awk '{print $2}')
[[ -n $want ]] && le "$(rel_diff "$obj" "$want")" 1e-6 || fail "objective $obj, the log says $want"
(($(jget outcome.ended_at_unix_ms <<<"$s") > 0)) || fail "no end time: $s"
text=$("$BIN" status --zk "$ZK" --job "$fin")
grep -q "finished: epoch 30, objective .* model $WORK/fin.model" <<<"$text" ||
  fail "text status: $text"
e=$(listed "$fin")
[[ $(jget state <<<"$e") == finished && $(jget live_members <<<"$e") == 0 &&
   $(jget latest_epoch <<<"$e") == 30 ]] || fail "list entry of $fin: $e"
pass "finished: final epoch 30, objective $obj, model path, time; listed with latest checkpoint 30"

# --- failed: one rank killed, the survivor records the cause ---
failj=$(job_name fail)
start_two "$failj" --epochs 1000
wait_state "$failj" running 20
sleep 0.5
kill -KILL "${PIDS[1]}"
wait_pid "${PIDS[0]}" 30
[[ $WRC -eq 4 ]] || fail "the survivor exited $WRC, want 4"
s=$("$BIN" status --zk "$ZK" --job "$failj" --json)
[[ $(jget state <<<"$s") == failed ]] || fail "after a killed rank: $(jget state <<<"$s")"
cause=$(jget outcome.cause <<<"$s")
by=$(jget outcome.reported_by <<<"$s")
[[ $cause == *"$(jget ring.1.port <<<"$s")"* || $cause == *"$(jget ring.0.port <<<"$s")"* ]] ||
  fail "the cause does not name a rank: $cause"
[[ $by == *"pid ${PIDS[0]}"* ]] || fail "reported_by is not the survivor (pid ${PIDS[0]}): $by"
[[ $(listed "$failj" | jget state) == failed ]] || fail "the list does not say failed"
pass "failed: cause '$cause' reported by $by"

# --- abandoned: every process killed, nothing recorded ---
ab=$(job_name aband)
start_two "$ab" --epochs 1000
wait_state "$ab" running 20
kill -KILL "${PIDS[@]}"
wait_state "$ab" abandoned 10  # the ephemerals go with the sessions (2 s)
s=$("$BIN" status --zk "$ZK" --job "$ab" --json)
[[ $(jget recorded_state <<<"$s") == running && $(jget outcome <<<"$s") == null ]] ||
  fail "abandoned: recorded $(jget recorded_state <<<"$s"), outcome $(jget outcome <<<"$s")"
text=$("$BIN" status --zk "$ZK" --job "$ab")
grep -q "state: abandoned (recorded running, no member is live)" <<<"$text" ||
  fail "text status of $ab: $text"
pass "abandoned: no member live, recorded running"

# --- the list: one line each, sorted, last change present ---
list=$("$BIN" status --zk "$ZK")
for j in "$fin" "$failj" "$ab"; do
  # (generation 1, or 2 when the leader saw a member leave at the end and published "lost")
  grep -qE "^  $j +(finished|failed|abandoned) +[12] +0 +(none|epoch [0-9]+) +20[0-9-]+ [0-9:]+ UTC$" <<<"$list" ||
    fail "no list line for $j: $list"
done
json=$("$BIN" status --zk "$ZK" --json)
(($(jget jobs <<<"$json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') >= 3)) ||
  fail "the JSON list has fewer than 3 jobs: $json"
pass "status without --job lists the jobs: state, generation, live, checkpoint, last change"
