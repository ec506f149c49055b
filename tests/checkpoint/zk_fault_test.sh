#!/usr/bin/env bash
# tests/checkpoint/zk_fault_test.sh SCENARIO — ZooKeeper faults while checkpoints are being
# recorded every epoch (2 ranks, heart_scale, --checkpoint-every 1, epochs slowed with
# RINGTRAIN_FAULT=epoch-delay), on a throwaway ZooKeeper of this test (never RINGTRAIN_TEST_ZK):
#   ensemble_kill       3-node ensemble; the server the leader's session is connected to is
#                       SIGKILLed after the checkpoint of epoch 8 is recorded;
#   standalone_restart  standalone server SIGKILLed after epoch 8 is recorded and restarted
#                       within the session timeout.
# Then: both ranks exit 0 having trained every epoch; the registry holds exactly one record per
# checkpointed epoch — every epoch the leader wrote, in order, none lost, none twice, none that
# was not written; an epoch may only be missing if the leader logged it as superseded —
# `latest` is the last epoch, and each record's bytes and path match its file; for
# standalone_restart, records were made after the restart.
source "$(dirname "$0")/../e2e/lib.sh"
scenario=${1:?scenario: ensemble_kill or standalone_restart}
EPOCHS=40
PIDS=()
on_exit 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done'

case $scenario in
  ensemble_kill) out=$("$E2E_ROOT/scripts/zk.sh" start --ensemble) ;;
  standalone_restart) out=$("$E2E_ROOT/scripts/zk.sh" start) ;;
  *) fail "unknown scenario $scenario" ;;
esac
eval "$out"
on_exit "'$E2E_ROOT/scripts/zk.sh' stop '$ZK_DIR'"
ZK=$ZK_CONNECT
job=$(job_name "zkf")
ck=$WORK/ck
for r in 0 1; do
  RINGTRAIN_FAULT=epoch-delay:200 "$BIN" train --zk "$ZK" --job "$job" --ranks 2 --data "$HEART" \
    --optimizer sgd --batch-size 16 --threads 1 --epochs $EPOCHS --checkpoint-every 1 \
    --keep 1000 --checkpoint-dir "$ck" --timeout 60 --metrics "$WORK/m$r.jsonl" \
    >"$WORK/r$r.out" 2>"$WORK/r$r.err" &
  PIDS+=($!)
done

# The leader is the rank that logs its checkpoints; wait for epoch 8's record.
leader=""
for ((i = 0; i < 1200; i++)); do
  for r in 0 1; do
    if grep -q "checkpoint epoch 8 " "$WORK/r$r.err" 2>/dev/null; then leader=$r; fi
  done
  [[ -z $leader ]] || break
  sleep 0.05
done
[[ -n $leader ]] || fail "no checkpoint of epoch 8 within 60 s: $(tail -n 3 "$WORK"/r*.err)"
lpid=${PIDS[$leader]}

# The server whose client port the leader is connected to (its ZooKeeper session).
victim=""
for n in 1 2 3; do
  [[ -e $ZK_DIR/zoo$n.cfg ]] || continue
  port=$(sed -n 's/^clientPort=//p' "$ZK_DIR/zoo$n.cfg")
  if ss -tnpH state established "( dport = :$port )" 2>/dev/null | grep -q "pid=$lpid,"; then
    victim=$n
  fi
done
[[ -n $victim ]] || fail "cannot tell which ZooKeeper server the leader (pid $lpid) is connected to"
before=$("$BIN" checkpoints --zk "$ZK" --job "$job" list | grep -c '^epoch' || true)
"$E2E_ROOT/scripts/zk.sh" kill "$ZK_DIR" "$victim"
t_kill=$(date +%s%3N)
echo "killed ZooKeeper server $victim (the leader's) after $before records"
if [[ $scenario == standalone_restart ]]; then
  sleep 1.5
  "$E2E_ROOT/scripts/zk.sh" restart "$ZK_DIR" "$victim" >/dev/null
  t_up=$(date +%s%3N)
  down_ms=$((t_up - t_kill))
  echo "measure: zk down for $down_ms ms"
  ((down_ms < 10000)) || fail "the restart took $down_ms ms, not within the 10 s session timeout"
fi

for r in 0 1; do
  timeout 120 tail --pid="${PIDS[$r]}" -f /dev/null || fail "rank $r did not exit within 120 s"
  rc=0
  wait "${PIDS[$r]}" || rc=$?
  ((rc == 0)) || fail "rank $r exited $rc: $(grep -E 'ERROR|WARN' "$WORK/r$r.err" | tail -n 3)"
done
n=$(wc -l <"$WORK/m$leader.jsonl")  # the leader writes the metrics
((n == EPOCHS)) || fail "the leader logged $n epochs of metrics, expected $EPOCHS"
[[ $(json_field "$WORK/m$leader.jsonl" epoch) == "$EPOCHS" ]] || fail "training did not reach epoch $EPOCHS"

"$BIN" checkpoints --zk "$ZK" --job "$job" list --json >"$WORK/list.json" ||
  fail "checkpoints list failed after the fault"
"$BIN" checkpoints --zk "$ZK" --job "$job" list >"$WORK/list.txt"
python3 - "$WORK/list.json" "$WORK/r$leader.err" "$ck" "$job" "$EPOCHS" "${t_up:-0}" <<'PY' ||
import json, os, re, sys
records, log, ck, job, epochs, t_up = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
recs = json.load(open(records))
got = [r["epoch"] for r in recs]
text = open(log).read()
written = [int(e) for e in re.findall(r"checkpoint epoch (\d+) \S+: \d+ bytes, written", text)]
skipped = {int(e) for e in re.findall(r"checkpoint of epoch (\d+) skipped: superseded", text)}
def die(msg):
    print("FAIL: " + msg, file=sys.stderr); sys.exit(1)
if len(got) != len(set(got)): die(f"duplicate records: {got}")
if got != sorted(got): die(f"records out of order: {got}")
if written != sorted(set(written)): die(f"the leader wrote out of order or twice: {written}")
if got != written: die(f"records {got} differ from the checkpoints the leader wrote and recorded {written}")
missing = set(range(1, epochs + 1)) - set(got)
if missing - skipped: die(f"epochs {sorted(missing - skipped)} neither recorded nor logged as superseded")
if skipped & set(got): die(f"epochs {sorted(skipped & set(got))} both superseded and recorded")
if got[-1] != epochs: die(f"the last record is epoch {got[-1]}, expected {epochs}")
files = sorted(f for f in os.listdir(ck) if f.startswith(job + "-epoch-"))
if len(files) != len(got): die(f"{len(files)} files for {len(got)} records")
for r in recs:
    if not os.path.exists(r["path"]) or os.path.getsize(r["path"]) != r["bytes"]:
        die(f"record of epoch {r['epoch']}: file {r['path']} missing or not {r['bytes']} bytes")
if t_up and not any(r["time_unix_ms"] > t_up for r in recs):
    die("no record was made after the restart")
print(f"records: {len(got)} of {epochs} epochs, superseded: {sorted(skipped)}")
PY
  fail "registry check failed: $(cat "$WORK/list.txt")"
grep -q "^epoch $EPOCHS .*(latest)" "$WORK/list.txt" || fail "latest is not epoch $EPOCHS: $(tail -n 2 "$WORK/list.txt")"
pass "$scenario: training finished; one record per checkpointed epoch, latest = $EPOCHS"
