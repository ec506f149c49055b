#!/usr/bin/env bash
# tests/checkpoint/cli_test.sh — checkpoints and --resume through the ringtrain binary.
#  1. standalone: stopped after epoch k (--epochs k --checkpoint-every k) and resumed ends with
#     a model file bit-identical to an uninterrupted run, for sgd and lbfgs;
#  2. standalone: a corrupted newest file -> WARN naming it, the older one is used (and the
#     result is still bit-identical); every file corrupt -> exit 5 naming the paths; a changed
#     shape option -> exit 1 naming the key;
#  3. 2 ranks over ZooKeeper: the same exactness for sgd and lbfgs; --keep prunes records
#     and files together;
#  4. RINGTRAIN_FAULT=after-checkpoint-write:4 kills the leader between the durable file and
#     its record: `latest` stays on epoch 2; --resume continues from 2 and is bit-identical;
#  5. a corrupted newest recorded file -> WARN + the previous record; --resume-from EPOCH.
source "$(dirname "$0")/../e2e/lib.sh"
start_zk
common=(--data "$HEART" --bias --C 1 --tol 1e-12 --threads 1 --batch-size 16)

same() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ ($(cksum <"$1" | cut -d' ' -f1) vs $(cksum <"$2" | cut -d' ' -f1))"; }

# Runs N ranks of JOB (extra args after), waits; RCS holds the exit codes.
run_ranks() {
  local n=$1 job=$2 log=$3; shift 3
  local pids=() r
  for ((r = 0; r < n; r++)); do
    "$BIN" train --zk "$ZK" --job "$job" --ranks "$n" "${common[@]}" "$@" >"$log.$r" 2>&1 &
    pids+=($!)
  done
  RCS=()
  for r in "${pids[@]}"; do
    local rc=0
    timeout 60 tail --pid="$r" -f /dev/null || fail "rank pid $r did not exit within 60 s"
    wait "$r" || rc=$?
    RCS+=("$rc")
  done
}

# --- 1. standalone exactness ---
for opt in sgd lbfgs; do
  extra=(--optimizer "$opt")
  "$BIN" train "${common[@]}" "${extra[@]}" --epochs 12 --output "$WORK/full-$opt.model" \
    2>"$WORK/full-$opt.log" || fail "standalone $opt full run failed"
  "$BIN" train "${common[@]}" "${extra[@]}" --epochs 5 --checkpoint-every 5 \
    --checkpoint-dir "$WORK/s-$opt" 2>"$WORK/part-$opt.log" || fail "standalone $opt part failed"
  [[ -s $WORK/s-$opt/local-epoch-0000000005.ckpt ]] || fail "no checkpoint file of epoch 5 ($opt)"
  "$BIN" train "${common[@]}" "${extra[@]}" --epochs 12 --checkpoint-every 4 \
    --checkpoint-dir "$WORK/s-$opt" --resume --output "$WORK/res-$opt.model" \
    2>"$WORK/res-$opt.log" || fail "standalone $opt resume failed: $(tail -2 "$WORK/res-$opt.log")"
  grep -q "resuming job local from epoch 5" "$WORK/res-$opt.log" || fail "$opt did not resume from 5"
  same "$WORK/full-$opt.model" "$WORK/res-$opt.model" "standalone $opt resume"
done
pass "standalone resume is bit-identical for sgd and lbfgs"

# --- 2. standalone fallback, none valid, shape refusal ---
d=$WORK/s-lbfgs  # files of epochs 5, 8, 12 (--keep 3)
newest=$d/local-epoch-0000000012.ckpt
[[ -s $newest ]] || fail "no checkpoint of epoch 12"
printf '\xff' | dd of="$newest" bs=1 seek=100 conv=notrunc status=none
"$BIN" train "${common[@]}" --optimizer lbfgs --epochs 12 --checkpoint-dir "$d" --resume \
  --output "$WORK/fb.model" 2>"$WORK/fb.log" || fail "fallback resume failed: $(tail -2 "$WORK/fb.log")"
grep -q "WARN.*$newest" "$WORK/fb.log" || fail "no WARN naming the corrupted $newest"
grep -q "resuming job local from epoch 8" "$WORK/fb.log" || fail "did not fall back to epoch 8"
same "$WORK/full-lbfgs.model" "$WORK/fb.model" "fallback resume"
for f in "$d"/*.ckpt; do printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc status=none; done
rc=0
"$BIN" train "${common[@]}" --optimizer lbfgs --epochs 12 --checkpoint-dir "$d" --resume \
  2>"$WORK/none.log" || rc=$?
((rc == 5)) || fail "no valid checkpoint: exit $rc, expected 5"
grep -q "ERROR.*local-epoch-0000000005.ckpt" "$WORK/none.log" || fail "exit 5 does not name the paths"
rc=0
"$BIN" train --data "$HEART" --bias --C 2 --tol 1e-12 --threads 1 --batch-size 16 --optimizer sgd --epochs 12 \
  --checkpoint-dir "$WORK/s-sgd" --resume 2>"$WORK/shape.log" || rc=$?
((rc == 1)) || fail "changed --C on resume: exit $rc, expected 1"
grep -q "ERROR.*C ('2' here" "$WORK/shape.log" || fail "the refusal does not name C: $(cat "$WORK/shape.log")"
pass "standalone: corrupted newest -> fallback; none valid -> 5; changed C -> 1"

# --- 3. two ranks over ZooKeeper ---
for opt in sgd lbfgs; do
  extra=(--optimizer "$opt")
  run_ranks 2 "$(job_name full)" "$WORK/z-full-$opt" "${extra[@]}" --epochs 10 \
    --output "$WORK/z-full-$opt.model"
  [[ ${RCS[*]} == "0 0" ]] || fail "2-rank full $opt run: exit codes ${RCS[*]}"
  job=$(job_name res)
  run_ranks 2 "$job" "$WORK/z-part-$opt" "${extra[@]}" --epochs 4 --checkpoint-every 2 \
    --keep 1 --checkpoint-dir "$WORK/z-$opt"
  [[ ${RCS[*]} == "0 0" ]] || fail "2-rank part $opt run: exit codes ${RCS[*]}"
  n=$("$BIN" checkpoints --zk "$ZK" --job "$job" list | grep -c '^epoch')
  ((n == 1)) || fail "--keep 1 left $n records"
  [[ ! -e $WORK/z-$opt/$job-epoch-0000000002.ckpt ]] || fail "--keep 1 left the file of epoch 2"
  run_ranks 2 "$job" "$WORK/z-res-$opt" "${extra[@]}" --epochs 10 --resume \
    --checkpoint-dir "$WORK/z-$opt" --output "$WORK/z-res-$opt.model"
  [[ ${RCS[*]} == "0 0" ]] || fail "2-rank resume $opt: exit codes ${RCS[*]} $(tail -2 "$WORK/z-res-$opt.0")"
  # "resuming job J from epoch 4", or, if the first ring was re-formed under load before
  # training, "... resumes from epoch 4": either way the bits are compared below.
  grep -hqE "(resuming job $job from epoch|resumes from epoch) 4" "$WORK"/z-res-$opt.* ||
    fail "$opt: no resume from 4: $(grep -h -E 'resum|ERROR|WARN' "$WORK"/z-res-$opt.* | head -5)"
  same "$WORK/z-full-$opt.model" "$WORK/z-res-$opt.model" "2-rank $opt resume"
done
pass "2 ranks: resume is bit-identical for sgd and lbfgs; --keep prunes records and files"

# --- 4. crash between the durable file and its record ---
common+=(--optimizer lbfgs)  # sections 4-5 compare with the lbfgs run of section 3
job=$(job_name fault)
RINGTRAIN_FAULT=after-checkpoint-write:4 run_ranks 2 "$job" "$WORK/f" --epochs 10 \
  --checkpoint-every 2 --checkpoint-dir "$WORK/f" --timeout 20
[[ " ${RCS[*]} " == *" 9 "* ]] || fail "the fault hook did not exit 9: ${RCS[*]}"
[[ -s $WORK/f/$job-epoch-0000000004.ckpt ]] || fail "the file of epoch 4 was not written"
"$BIN" checkpoints --zk "$ZK" --job "$job" list >"$WORK/f.list"
grep -q "^epoch 2 .*(latest)" "$WORK/f.list" || fail "latest is not epoch 2: $(cat "$WORK/f.list")"
! grep -q "^epoch 4 " "$WORK/f.list" || fail "epoch 4 was recorded despite the crash"
"$BIN" status --zk "$ZK" --job "$job" >"$WORK/f.status" || fail "status failed"
grep -qi "checkpoint" "$WORK/f.status" && grep -q "2" "$WORK/f.status" || fail "status shows no checkpoints"
run_ranks 2 "$job" "$WORK/f-res" --epochs 10 --checkpoint-every 2 --checkpoint-dir "$WORK/f" \
  --resume --output "$WORK/f-res.model"
[[ ${RCS[*]} == "0 0" ]] || fail "resume after the fault: exit codes ${RCS[*]}"
grep -hq "resuming job $job from epoch 2" "$WORK"/f-res.* || fail "did not resume from 2"
same "$WORK/z-full-lbfgs.model" "$WORK/f-res.model" "resume after the injected crash"
pass "a crash between write and record leaves latest on the previous checkpoint"

# --- 5. corrupted newest recorded file, --resume-from ---
latest=$WORK/f/$job-epoch-0000000010.ckpt
[[ -s $latest ]] || fail "no file of epoch 10"
# The previous record is the fallback. Under heavy load the background writer may have
# superseded a queued checkpoint (docs/checkpoints.md), so read which epochs are recorded.
"$BIN" checkpoints --zk "$ZK" --job "$job" list >"$WORK/c.list"
mapfile -t recorded < <(grep -o '^epoch [0-9]*' "$WORK/c.list" | cut -d' ' -f2 | sort -n)
((${#recorded[@]} >= 3)) || fail "expected at least 3 records: $(cat "$WORK/c.list")"
[[ ${recorded[-1]} == 10 ]] || fail "latest record is not epoch 10: $(cat "$WORK/c.list")"
prev=${recorded[-2]}
oldest=${recorded[0]}
printf '\x00\x01' | dd of="$latest" bs=1 seek=64 conv=notrunc status=none
run_ranks 2 "$job" "$WORK/c-res" --epochs 10 --checkpoint-dir "$WORK/f" --resume \
  --output "$WORK/c-res.model"
[[ ${RCS[*]} == "0 0" ]] || fail "resume with a corrupted latest: exit codes ${RCS[*]}"
grep -hq "WARN.*$latest" "$WORK"/c-res.* || fail "no WARN naming $latest: $(grep -h -E "resum|WARN|ERROR" "$WORK"/c-res.* | head -5)"
grep -hqE "(resuming job $job from epoch|resumes from epoch) $prev" "$WORK"/c-res.* || fail "did not fall back to $prev: $(grep -h -E "resum|WARN|ERROR" "$WORK"/c-res.* | head -5)"
same "$WORK/z-full-lbfgs.model" "$WORK/c-res.model" "fallback from a corrupted record"
run_ranks 2 "$job" "$WORK/rf" --epochs 10 --resume-from "$oldest" --output "$WORK/rf.model"
[[ ${RCS[*]} == "0 0" ]] || fail "--resume-from $oldest: exit codes ${RCS[*]}"
grep -hq "resuming job $job from epoch $oldest" "$WORK"/rf.* ||
  fail "--resume-from $oldest did not start at $oldest"
same "$WORK/z-full-lbfgs.model" "$WORK/rf.model" "--resume-from $oldest"
pass "corrupted latest -> previous record with a WARN; --resume-from"
