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
#  3. balancing during elastic recovery: a process is killed while the ranks move to a balanced
#     map (RINGTRAIN_FAULT=kill-at-partition:2; once the slow rank, once the leader before it
#     publishes); the other two re-form (equal split of the same rows), finish with exit 0, no
#     hang, every epoch holds all 270 rows, and the published map holds them in 2 parts.
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

# --- 3. a rank dies while the ranks move to a balanced map (elastic): kill-at-partition:2
# SIGKILLs it once the new map's cuts are agreed, before it reads its rows (on the leader:
# before it publishes the map). Once the slow rank 2 (the others move and the leader
# publishes partition 2, then the next allreduce breaks), once the leader rank 0 (never
# published; rank 1 leads the new ring). The survivors re-form, take an equal split of the
# same rows under a partition generation above any they moved to, and finish: no hang, exit
# 0, every epoch's rows sum to 270, the generations only grow. ---
for victim in 2 0; do
  job=$(job_name "relastic$victim")
  pids=()
  for r in 0 1 2; do
    us=200 fault=""
    ((r == 2)) && us=400
    ((r == victim)) && fault=,kill-at-partition:2
    RINGTRAIN_FAULT=slow-rows:$us$fault "$BIN" train --zk "$ZK" --job "$job" --min-ranks 2 \
      --max-ranks 3 --threads 1 --data "$HEART" --bias --C 1 --timeout 30 --optimizer lbfgs \
      --tol 1e-12 --epochs 10 --metrics "$WORK/el$victim.jsonl" >"$WORK/el$victim-$r.log" 2>&1 &
    pids+=($!)
    on_exit "kill -KILL $! 2>/dev/null"
    sleep 0.5
  done
  for r in 0 1 2; do
    ((r == victim)) && continue
    timeout 60 tail --pid="${pids[$r]}" -f /dev/null ||
      fail "victim $victim: rank $r hangs: $(tail -3 "$WORK/el$victim-$r.log")"
    wait "${pids[$r]}" || fail "victim $victim: rank $r failed: $(tail -3 "$WORK/el$victim-$r.log")"
  done
  { wait "${pids[$victim]}"; } 2>/dev/null && fail "victim $victim was not killed"
  grep -q "killing this process while the ranks move to partition 2" "$WORK/el$victim-$victim.log" ||
    fail "victim $victim: the fault did not fire: $(tail -3 "$WORK/el$victim-$victim.log")"
  grep -q "recovery: generation" "$WORK"/el"$victim"-[012].log ||
    fail "victim $victim: no recovery logged"
  "$BIN" status --zk "$ZK" --job "$job" --json >"$WORK/el$victim-status.json" || fail "status failed"
  $PY - "$WORK/el$victim-status.json" "$WORK/el$victim.jsonl" <<'EOF' ||
import json, sys
m = json.load(open(sys.argv[1]))["partitions"]
assert len(m["parts"]) == 2 and m["total_rows"] == 270, m
assert sum(p["rows"] for p in m["parts"]) == 270 and m["generation"] >= 3, m
rows = [json.loads(l) for l in open(sys.argv[2])]
assert rows[-1]["epoch"] == 10 and rows[-1]["world_size"] == 2, rows[-1]
gens = [r["partition_generation"] for r in rows]
assert gens == sorted(gens), gens
assert all(sum(r["rank_rows"]) == 270 for r in rows), [r["rank_rows"] for r in rows]
EOF
    fail "victim $victim: status or metrics: $(cat "$WORK/el$victim-status.json")"
  echo "measure: victim $victim: partition generations $(grep -o '"partition_generation":[0-9]*' "$WORK/el$victim.jsonl" | cut -d: -f2 | uniq | paste -sd,)"
done
pass "balancing: moved within 3 epochs (lbfgs, tron), status shows the map, objective = unbalanced, resume exact, elastic recovery when a rank or the leader dies during a move"
