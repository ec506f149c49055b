#!/usr/bin/env bash
# tests/e2e/balance_test.sh — load balancing by measured speed with 3 real processes
# (docs/balancing.md). RINGTRAIN_FAULT=slow-rows:US gives each process a known speed (200,
# 200 and 400 us per row: the last one at half speed, started last so it is rank 2):
#  1. lbfgs and tron: the leader publishes a new partition map within 3 epochs (metrics
#     partition_generation), `ringtrain status --json` shows it with the slow rank holding
#     fewer rows and every rank's measured speed, the rows tile the data, and the objective
#     matches a --balance off run within 1e-9 relative;
#  2. resume after balancing is exact: the run's epoch-4 checkpoint (holding the balanced map)
#     resumed to epoch 8 gives the same model bytes as the run itself;
#  3. balancing during elastic recovery: the slow process is killed right after the epoch the
#     ranks moved to a balanced map; the other two re-form (equal split of the same rows), finish
#     with exit 0, no hang, and the published map holds all 270 rows in 2 parts.
source "$(dirname "$0")/lib.sh"
[[ -z ${BALANCE_KEEP:-} ]] || on_exit "cp -r \"\$WORK\" \"$BALANCE_KEEP/\""
start_zk
export RINGTRAIN_ZK_SESSION_TIMEOUT_MS=2000
PY=/usr/bin/python3

# run3 JOB LOGPREFIX extra... : 3 processes, the slow one last; waits for all; fails on non-zero.
run3() {
  local job=$1 name=$2 r pids=()
  shift 2
  for r in 0 1 2; do
    local us=200
    ((r == 2)) && us=400
    RINGTRAIN_FAULT=slow-rows:$us "$BIN" train --zk "$ZK" --job "$job" --ranks 3 --threads 1 \
      --data "$HEART" --bias --C 1 --timeout 30 "$@" >"$WORK/$name$r.log" 2>&1 &
    pids+=($!)
    on_exit "kill -KILL $! 2>/dev/null"
    sleep 0.5  # join in this order: rank = start order
  done
  for r in 0 1 2; do
    wait "${pids[$r]}" || fail "$name rank process $r failed: $(tail -3 "$WORK/$name$r.log")"
  done
}

# --- 1. balanced within 3 epochs; status shows it; objective = unbalanced run's ---
for opt in lbfgs tron; do
  job=$(job_name "bal-$opt")
  run3 "$job" "b$opt" --optimizer "$opt" --epochs 8 --tol 1e-12 --metrics "$WORK/$opt.jsonl"
  run3 "$(job_name "off-$opt")" "o$opt" --optimizer "$opt" --epochs 8 --tol 1e-12 --balance off \
    --metrics "$WORK/$opt-off.jsonl"
  first=$(grep -m1 '"partition_generation":2' "$WORK/$opt.jsonl" | grep -o '"epoch":[0-9]*' | cut -d: -f2)
  [[ -n $first ]] || fail "$opt: no second partition map in the metrics"
  ((first <= 3)) || fail "$opt: the first epoch with the balanced map is $first (> 3)"
  grep -q "balance: partition 2 after epoch" "$WORK/b${opt}0.log" || fail "$opt: the leader did not log the move"
  a=$(json_field "$WORK/$opt.jsonl" objective) b=$(json_field "$WORK/$opt-off.jsonl" objective)
  d=$(rel_diff "$a" "$b")
  le "$d" 1e-9 || fail "$opt: balanced objective $a vs unbalanced $b (rel $d)"
  "$BIN" status --zk "$ZK" --job "$job" --json >"$WORK/$opt-status.json" || fail "status failed"
  "$BIN" status --zk "$ZK" --job "$job" >"$WORK/$opt-status.txt" || fail "status failed"
  grep -q "partitions: generation 2" "$WORK/$opt-status.txt" || fail "status text: $(cat "$WORK/$opt-status.txt")"
  $PY - "$WORK/$opt-status.json" <<'EOF' || fail "$opt: status --json: $(cat "$WORK/$opt-status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
m = s["partitions"]
assert m["generation"] == 2, m
parts = m["parts"]
assert len(parts) == 3 and m["total_rows"] == 270, m
at = 0
for r, p in enumerate(parts):
    assert p["rank"] == r and p["first_row"] == at, m
    at += p["rows"]
    assert p["compute_s"] > 0 and p["rows_per_s"] > 0, p
assert at == 270, m
assert parts[2]["rows"] < 70 and parts[0]["rows"] > 95 and parts[1]["rows"] > 95, m
EOF
  echo "measure: $opt balanced from epoch $first, objective rel diff $d, rows $(grep -o '"rows":[0-9]*' "$WORK/$opt-status.json" | cut -d: -f2 | paste -sd,)"
done

# --- 2. resume after balancing is exact: resuming the run's own epoch-4 checkpoint (which
# holds the balanced map) reproduces its epochs 5-8 bit for bit. (Another run would measure
# slightly different speeds and may cut the rows a few rows apart: the same bits need the same
# sequence of maps: --balance-threshold 0.3 keeps the speeds' 2x gap moving the rows once
# while the few-percent noise of a loaded machine after the move does not move them again.) ---
args=(--optimizer lbfgs --tol 1e-12 --checkpoint-every 4 --checkpoint-dir "$WORK/ck"
      --balance-threshold 0.3)
job=$(job_name rfull)
run3 "$job" full "${args[@]}" --epochs 8 --output "$WORK/full.model"
run3 "$job" again "${args[@]}" --epochs 8 --resume-from 4 --output "$WORK/resumed.model"
grep -q "resuming job $job from epoch 4" "$WORK/again0.log" || fail "the rerun did not resume from 4"
grep -q "balance: partition" "$WORK/again0.log" && fail "the resumed run moved rows again"
grep -q "balance: partition 2 after epoch [123]:" "$WORK/full0.log" || fail "the full run did not balance by epoch 3"
a=$(cksum <"$WORK/full.model") b=$(cksum <"$WORK/resumed.model")
[[ $a == "$b" ]] || fail "resumed model ($b) differs from the uninterrupted one ($a)"

# --- 3. a rank dies at the epoch the ranks moved to a balanced map (elastic) ---
job=$(job_name relastic)
pids=()
for r in 0 1 2; do
  us=200 fault=""
  ((r == 2)) && us=400 fault=,kill-at-epoch:2
  RINGTRAIN_FAULT=slow-rows:$us$fault "$BIN" train --zk "$ZK" --job "$job" --min-ranks 2 \
    --max-ranks 3 --threads 1 --data "$HEART" --bias --C 1 --timeout 30 --optimizer lbfgs \
    --tol 1e-12 --epochs 10 --metrics "$WORK/el.jsonl" >"$WORK/el$r.log" 2>&1 &
  pids+=($!)
  on_exit "kill -KILL $! 2>/dev/null"
  sleep 0.5
done
for r in 0 1; do
  timeout 60 tail --pid="${pids[$r]}" -f /dev/null || fail "elastic rank $r hangs: $(tail -3 "$WORK/el$r.log")"
  wait "${pids[$r]}" || fail "elastic rank $r failed: $(tail -3 "$WORK/el$r.log")"
done
grep -q "balance: partition 2 after epoch 2" "$WORK/el0.log" || fail "no move at epoch 2: $(grep balance "$WORK/el0.log")"
grep -q "recovery: generation" "$WORK/el0.log" || fail "no recovery logged"
"$BIN" status --zk "$ZK" --job "$job" --json >"$WORK/el-status.json" || fail "status failed"
$PY - "$WORK/el-status.json" <<'EOF' || fail "elastic: status --json: $(cat "$WORK/el-status.json")"
import json, sys
m = json.load(open(sys.argv[1]))["partitions"]
assert len(m["parts"]) == 2 and m["total_rows"] == 270, m
assert sum(p["rows"] for p in m["parts"]) == 270 and m["generation"] >= 3, m
EOF
tail -1 "$WORK/el.jsonl" | grep -q '"epoch":10,' || fail "the elastic job did not finish 10 epochs"
pass "balancing: moved within 3 epochs (lbfgs, tron), status shows the map, objective = unbalanced, resume exact, elastic recovery during a move"
