#!/usr/bin/env bash
# scripts/launch.sh -n 3 on heart_scale equals the single-rank run's objective within 1e-6
# relative; every process exits 0; the metrics record world_size 3.
source "$(dirname "$0")/lib.sh"
start_zk

"$BIN" train --data "$HEART" --bias --C 1 --tol 1e-4 --metrics "$WORK/one.jsonl" \
  --output "$WORK/one.model" 2>"$WORK/one.log" || fail "single-rank run failed: $(tail -3 "$WORK/one.log")"

job=$(job_name hs3)
"$E2E_ROOT/scripts/launch.sh" -n 3 -- train --job "$job" --zk "$ZK" --data "$HEART" --bias \
  --C 1 --tol 1e-4 --metrics "$WORK/three.jsonl" --output "$WORK/three.model" \
  >"$WORK/three.log" 2>&1 || fail "launch.sh -n 3 failed: $(tail -5 "$WORK/three.log")"

[[ $(json_field "$WORK/three.jsonl" world_size) == 3 ]] || fail "world_size is not 3 in the metrics"
# Every line a rank printed carries its process prefix (non-leaders are quiet, so only the
# leader's lines are certain to exist).
grep -q '^\[p[0-2]\] .* r0/3 ' "$WORK/three.log" || fail "the leader's lines are not prefixed"
if grep -E '^(INFO|WARN|ERROR) ' "$WORK/three.log"; then fail "unprefixed rank output"; fi
if grep '^\[p[0-2]\] .* r[12]/3 .*epoch' "$WORK/three.log"; then fail "a non-leader printed progress"; fi
o1=$(json_field "$WORK/one.jsonl" objective)
o3=$(json_field "$WORK/three.jsonl" objective)
d=$(rel_diff "$o1" "$o3")
le "$d" 1e-6 || fail "objective 1 rank $o1 vs 3 ranks $o3: relative difference $d > 1e-6"
[[ -s $WORK/three.model ]] || fail "the leader did not write the model"
"$BIN" eval --model "$WORK/three.model" --data "$HEART" >"$WORK/eval.txt" ||
  fail "eval of the 3-rank model failed"
grep -q accuracy "$WORK/eval.txt" || fail "eval printed no accuracy"

# The metrics plot renders to a non-empty PNG.
"$E2E_ROOT/scripts/plot_metrics.sh" "$WORK/three.jsonl" "$WORK/plot.png" >/dev/null ||
  fail "plot_metrics.sh failed"
[[ $(head -c 8 "$WORK/plot.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
  fail "plot_metrics.sh did not write a PNG"
(($(stat -c %s "$WORK/plot.png") > 5000)) || fail "the PNG is suspiciously small"
pass "1 rank $o1, 3 ranks $o3 (relative difference $d); plot rendered"
