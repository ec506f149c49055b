#!/usr/bin/env bash
# Ctrl-C during a run of scripts/launch.sh (which starts its own ZooKeeper): afterwards no
# rank and no ZooKeeper started by the script is left running, and its temp dir is gone.
source "$(dirname "$0")/lib.sh"
set -m  # job control: the background job gets its own process group, as at a terminal

export TMPDIR=$WORK  # the script's ZooKeeper state dir lands here, so we can check it
job=$(job_name ctrlc)
"$E2E_ROOT/scripts/launch.sh" -n 3 -- train --job "$job" --data "$FMNIST/train-images-idx3-ubyte.gz" \
  --labels "$FMNIST/train-labels-idx1-ubyte.gz" --epochs 1000 --tol 1e-12 --C 1 \
  >"$WORK/run.log" 2>&1 &
pid=$!
pgid=$pid
on_exit "kill -KILL -- -$pgid 2>/dev/null"

# Wait until training is under way (an epoch line), at most 120 s.
for _ in $(seq 1 600); do
  grep -q 'epoch [0-9]*/' "$WORK/run.log" && break
  kill -0 "$pid" 2>/dev/null || fail "launch.sh ended early: $(tail -5 "$WORK/run.log")"
  sleep 0.2
done
grep -q 'epoch [0-9]*/' "$WORK/run.log" || fail "no epoch within 120 s: $(tail -5 "$WORK/run.log")"
ls -d "$WORK"/ringtrain-zk.* >/dev/null 2>&1 || fail "launch.sh did not start its own ZooKeeper"
zk_dir=$(ls -d "$WORK"/ringtrain-zk.*)
zk_pid=$(cat "$zk_dir/pid1")

# Ctrl-C: SIGINT to the whole foreground process group.
kill -INT -- -"$pgid"
rc=0
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "launch.sh still running 30 s after Ctrl-C"
wait "$pid" || rc=$?
((rc != 0)) || fail "launch.sh exited 0 after Ctrl-C"

sleep 0.5
left=$(pgrep -f -- "--job $job" || true)
[[ -z $left ]] || fail "ranks left running after Ctrl-C: $left"
kill -0 "$zk_pid" 2>/dev/null && fail "ZooKeeper (pid $zk_pid) left running after Ctrl-C"
[[ ! -e $zk_dir ]] || fail "ZooKeeper temp dir $zk_dir left behind"
pass "Ctrl-C stopped launch.sh (exit $rc), every rank and its ZooKeeper; temp dir removed"
