#!/usr/bin/env bash
# scripts/launch.sh -n 3 with --shm auto (the default: the ring's links run through shared
# memory) and with --shm off (loopback TCP): the same model file, bit for bit (same world size,
# same summation order), and the auto run really used shared memory. The data has 20000
# features, so each gradient allreduce (160 KB) takes the segmented ring path, not the
# whole-buffer one.
source "$(dirname "$0")/lib.sh"
start_zk

awk 'BEGIN { srand(7); for (r = 0; r < 600; r++) { line = (rand() < 0.5 ? "-1" : "+1");
  for (k = 0; k < 10; k++) line = line " " (k * 2000 + 1 + int(rand() * 1999)) ":" rand();
  print line } }' >"$WORK/wide.libsvm"

run() {  # run NAME SHM
  "$E2E_ROOT/scripts/launch.sh" -n 3 -- --log-level debug train --job "$(job_name "shm-$1")" \
    --zk "$ZK" --ranks 3 --data "$WORK/wide.libsvm" --bias --C 1 --tol 1e-4 --epochs 30 --shm "$2" --balance off \
    --metrics "$WORK/$1.jsonl" --output "$WORK/$1.model" >"$WORK/$1.log" 2>&1 ||
    fail "launch.sh -n 3 --shm $2 failed: $(tail -5 "$WORK/$1.log")"
}
run shm auto
run tcp off

(($(grep -c 'ring links over shared memory' "$WORK/shm.log") == 3)) ||
  fail "--shm auto: not every rank moved its links to shared memory"
if grep -q 'ring links over shared memory' "$WORK/tcp.log"; then
  fail "--shm off still used shared memory"
fi
(($(stat -c %s "$WORK/shm.model") > 160000)) || fail "the model is smaller than 20000 doubles"
cmp "$WORK/shm.model" "$WORK/tcp.model" ||
  fail "the models over shared memory and over TCP differ"
o=$(json_field "$WORK/shm.jsonl" objective)
[[ $o == "$(json_field "$WORK/tcp.jsonl" objective)" ]] || fail "objectives differ"
pass "3 ranks over shared memory and over TCP: identical model bits (objective $o)"
