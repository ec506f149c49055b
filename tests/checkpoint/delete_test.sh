#!/usr/bin/env bash
# tests/checkpoint/delete_test.sh — `ringtrain checkpoints --job J delete EPOCH` removes the
# record and, when the recorded file is on this host, the file too (saying so); a record whose
# file is not here says it was not found on this host; a file at the path that is not the
# recorded one (another epoch's) is left in place, saying why; `latest` moves to the newest
# remaining. (Forged records: tests/reliability/hostile_test.cc.)
source "$(dirname "$0")/../e2e/lib.sh"
start_zk
job=$(job_name del)
ck=$WORK/ck
pids=()
for r in 0 1; do
  "$BIN" train --zk "$ZK" --job "$job" --ranks 2 --data "$HEART" --bias --optimizer sgd \
    --batch-size 16 --threads 1 --epochs 6 --checkpoint-every 2 --keep 10 \
    --checkpoint-dir "$ck" --timeout 30 >"$WORK/r$r.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do
  timeout 60 tail --pid="$p" -f /dev/null || fail "rank pid $p did not exit within 60 s"
  wait "$p" || fail "training failed: $(tail -n 3 "$WORK"/r*.log)"
done
f() { echo "$ck/$job-epoch-000000000$1.ckpt"; }
for e in 2 4 6; do [[ -s $(f $e) ]] || fail "no file of epoch $e"; done
ck_cli() { "$BIN" checkpoints --zk "$ZK" --job "$job" "$@"; }

# 1. the file is here: record and file go, and it says so; latest moves to 4.
ck_cli delete 6 >"$WORK/d6.out" || fail "delete 6 failed"
grep -q "deleted the record of epoch 6" "$WORK/d6.out" || fail "no record deletion said: $(cat "$WORK/d6.out")"
grep -qF "removed its file $(f 6)" "$WORK/d6.out" || fail "the file removal is not said: $(cat "$WORK/d6.out")"
[[ ! -e $(f 6) ]] || fail "the file of epoch 6 is still there"
[[ -e $(f 4) && -e $(f 2) ]] || fail "other checkpoint files were removed"
ck_cli list >"$WORK/l1"
! grep -q "^epoch 6 " "$WORK/l1" || fail "epoch 6 still recorded"
grep -q "^epoch 4 .*(latest)" "$WORK/l1" || fail "latest is not epoch 4: $(cat "$WORK/l1")"
pass "delete removes the record and the file on this host"

# 2. the file is elsewhere (not on this host): the record goes, the output says so.
mv "$(f 4)" "$WORK/elsewhere.ckpt"
ck_cli delete 4 >"$WORK/d4.out" || fail "delete 4 failed"
grep -q "deleted the record of epoch 4" "$WORK/d4.out" || fail "record 4 not deleted: $(cat "$WORK/d4.out")"
grep -qF "its file $(f 4) was not found on this host" "$WORK/d4.out" ||
  fail "a missing file is not reported: $(cat "$WORK/d4.out")"
! ck_cli list | grep -q "^epoch 4 " || fail "epoch 4 still recorded"
pass "delete of a record whose file is elsewhere says the file was not found here"

# 3. another file at the recorded path (a different checksum) is left in place.
cp "$WORK/elsewhere.ckpt" "$(f 2)"
ck_cli delete 2 >"$WORK/d2.out" || fail "delete 2 failed"
grep -qF "its file $(f 2) was left in place: it holds epoch 4, not 2" "$WORK/d2.out" ||
  fail "a foreign file is not reported: $(cat "$WORK/d2.out")"
cmp -s "$WORK/elsewhere.ckpt" "$(f 2)" || fail "the foreign file at $(f 2) was changed or removed"
ck_cli list | grep -q "no checkpoints recorded" || fail "records are left: $(ck_cli list)"

# 4. deleting an unrecorded epoch is an error (exit 3) and touches no file.
rc=0
ck_cli delete 2 >"$WORK/again.out" 2>"$WORK/again.err" || rc=$?
((rc == 3)) || fail "delete of an unrecorded epoch: exit $rc, expected 3"
[[ -e $(f 2) ]] || fail "a failed delete removed a file"
pass "a file that is not the recorded one is left in place; an unrecorded epoch -> exit 3"
