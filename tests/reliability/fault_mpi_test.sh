#!/usr/bin/env bash
# tests/reliability/fault_mpi_test.sh SCENARIO — the fault matrix under mpirun (3 ranks, MPI
# transport, not elastic; issue 7 item 1, issue 5 item 7). Each scenario is one CTest test:
#   kill_plain       plain mpirun (no flags), MPI rank 2 SIGKILLs itself after epoch 30: mpirun
#                    ends the job itself at once (exit non-zero naming "rank 2"), nothing left
#   kill_allreduce   mpirun as scripts/mpirun.sh runs it (--mca orte_abort_on_non_zero_status
#                    0), MPI rank 2 SIGKILLs itself after epoch 30 (RINGTRAIN_FAULT): every
#                    survivor prints its own ERROR naming "MPI rank 2" and exits 4, mpirun
#                    exits non-zero, nothing left
#   kill_rendezvous  MPI rank 2 SIGKILLs itself right after creating its member znode, before
#                    the ring forms: the survivors exit 4 (the ring formed with the dead member;
#                    its session expires) or 3 (it was the leader: no ring before --timeout)
#   ckpt_write       the checkpoint writer exits after writing epoch 200's file, before
#                    recording it: it exits 9, the survivors exit 4 naming its MPI rank;
#                    rerunning with --resume continues from the last recorded epoch (100) and
#                    ends with the same model bytes as an uninterrupted run
#   sigstop          MPI rank 2 SIGSTOPs itself after epoch 30: the survivors exit 4 naming it
#                    once its ZooKeeper session expires; their abort makes mpirun kill the
#                    stopped process (none left behind)
#   zk_restart       the standalone ZooKeeper SIGKILLed and restarted within the session
#                    timeout: training goes on and the job completes (mpirun exit 0, no ERROR)
#   ensemble_one     1 of 3 ensemble nodes SIGKILLed: likewise
#   quorum_lost      2 of 3 ensemble nodes SIGKILLed: every rank exits 3 or 4 with one ERROR
#                    line, mpirun exits non-zero, nothing left
# The ranks run through mpi_rank_wrap.sh, which records each rank's own exit code; mpirun's
# --output-filename keeps each rank's stderr apart. Every wait has a deadline; every
# pid is checked gone. Prints "measure: <scenario> ..." lines (detection = from the fault's log
# line to a survivor's ERROR line, from the ranks' own timestamps).
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/rel_lib.sh"
scenario=${1:?scenario}
WRAP=$(cd "$(dirname "$0")" && pwd)/mpi_rank_wrap.sh
export RANK_RC_DIR=$WORK/rc FAULT_RANK="" FAULT_SPEC=""
mkdir -p "$RANK_RC_DIR"
# FAULT_KEEP_DIR=DIR keeps this run's logs (mpirun.log, out/*/rank.N/stderr, rc/) for a look.
on_exit '[[ -z ${FAULT_KEEP_DIR:-} ]] || cp -r "$WORK" "$FAULT_KEEP_DIR/"'
# What scripts/mpirun.sh passes: a dead rank does not make mpirun kill the others at once, so
# the survivors report it themselves and end the job with MPI_Abort.
MPI_FLAGS=(--mca orte_abort_on_non_zero_status 0)
LOG=$WORK/mpirun.log
on_exit 'for f in "$RANK_RC_DIR"/pid.*; do [[ -f $f ]] && kill -KILL "$(cat "$f")" 2>/dev/null; done; true'

# start_mpirun JOB TRAIN_ARGS... -> 3 ranks in the background (pid MP), output in $LOG.
start_mpirun() {
  local job=$1
  shift
  rm -rf "$WORK/out"
  mpirun --oversubscribe "${MPI_FLAGS[@]}" --output-filename "$WORK/out" -np 3 -x RANK_RC_DIR -x FAULT_RANK \
    -x FAULT_SPEC -x RINGTRAIN_ZK_SESSION_TIMEOUT_MS "$WRAP" \
    "$BIN" train --zk "$ZK" --job "$job" --data "$HEART" --optimizer sgd --batch-size 8 \
    --threads 1 "$@" >"$LOG" 2>&1 &
  MP=$!
  on_exit "kill -KILL $MP 2>/dev/null"
}
rank_pids() { cat "$RANK_RC_DIR"/pid.* 2>/dev/null; }
# rank_rc R -> MPI rank R's exit code as its wrapper recorded it (mpirun may end before the
# wrappers have written it: waits up to 5 s). When a rank calls MPI_Abort, Open MPI's teardown
# sometimes SIGKILLs another rank together with its wrapper (about 1 run in 20) before the
# record is written: then the code the rank itself announced ("MPI rank R exits with code N;
# it ends the MPI job with MPI_Abort ...", printed before its grace period) is the evidence.
# "none" if neither exists.
rank_rc() {
  local i line
  for ((i = 0; i < 100; i++)); do [[ -s $RANK_RC_DIR/rc.$1 ]] && break; sleep 0.05; done
  if [[ -s $RANK_RC_DIR/rc.$1 ]]; then
    cat "$RANK_RC_DIR/rc.$1"
  else
    line=$(cat "$WORK"/out/*/rank."$1"/stderr 2>/dev/null | grep -o "MPI rank $1 exits with code [0-9]*")
    [[ -n $line ]] && echo "${line##* }" || echo none
  fi
}
# errors_of R -> the ERROR lines MPI rank R printed (mpirun --output-filename: a file per rank).
errors_of() { cat "$WORK"/out/*/rank."$1"/stderr 2>/dev/null | grep '^ERROR ' || true; }
# secs_of LINE -> seconds since midnight of a log line's HH:MM:SS.mmm.
secs_of() { grep -oE '[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}' <<<"$1" | head -1 |
  awk -F: '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 }'; }
fault_line() { grep -m1 "RINGTRAIN_FAULT: $1" "$LOG" || true; }
# survivor_exits R WANT_RCS FAULT_LINE NEEDLE... -> rank R exited WANT_RCS ("4", "3|4") with
# exactly one ERROR line containing every NEEDLE; prints its detection time.
survivor_exits() {
  local r=$1 want=$2 fault=$3 rc lines needle
  shift 3
  rc=$(rank_rc "$r")
  [[ $rc =~ ^($want)$ ]] || fail "MPI rank $r exited $rc, want $want: $(tail -n 5 "$LOG")"
  lines=$(errors_of "$r")
  [[ $(grep -c ERROR <<<"$lines") -eq 1 ]] || fail "MPI rank $r: not exactly one ERROR line: $lines"
  for needle in "$@"; do
    [[ $lines == *"$needle"* ]] || fail "MPI rank $r: '$needle' not named in: $lines"
  done
  if [[ -n $fault ]]; then
    echo "measure: $scenario detection_s mpi_rank_$r" \
      "$(awk -v a="$(secs_of "$lines")" -v b="$(secs_of "$fault")" 'BEGIN{printf "%.3f", a-b}') exit $rc"
  fi
}
all_gone() {  # every rank process and mpirun are gone
  local p
  for p in $(rank_pids); do
    for ((i = 0; i < 200; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
  # shellcheck disable=SC2046
  assert_gone $(rank_pids) "$MP"
}
# survivors_report SPEC TIMEOUT_S VERB WAIT_S [NEEDLE...] -> MPI rank 2 gets the fault hook
# SPEC (its log says "RINGTRAIN_FAULT: VERB"); mpirun must exit non-zero within WAIT_S, MPI
# ranks 0 and 1 each exit 4 with one ERROR line naming "MPI rank 2" and every NEEDLE, and
# nothing is left behind.
survivors_report() {
  local spec=$1 timeout=$2 verb=$3 wait_s=$4 r
  shift 4
  start_zk
  FAULT_RANK=2 FAULT_SPEC=$spec start_mpirun "$job" --epochs 100000000 --timeout "$timeout"
  wait_for_text "$LOG" "RINGTRAIN_FAULT: $verb" 60
  wait_pid "$MP" "$wait_s"
  echo "measure: $scenario mpirun_exit_s $WSECS (after the fault, session 4 s + 3 s grace) code $WRC"
  ((WRC != 0)) || fail "mpirun exited 0 after MPI rank 2 failed ($spec)"
  for r in 0 1; do survivor_exits $r 4 "$(fault_line "$verb")" "MPI rank 2" "$@"; done
  all_gone
}
# completes_despite_zk_fault JOB -> the job (epoch-delay hook, 300 epochs) started; after the
# fault (the commands in "$@") mpirun exits 0 with no ERROR and the model is written.
completes_despite_zk_fault() {
  local job=$1 before after
  shift
  FAULT_RANK=all FAULT_SPEC=epoch-delay:40 start_mpirun "$job" --epochs 300 --timeout 60 \
    --output "$WORK/model.bin"
  wait_for_text "$LOG" " epoch 40/" 60
  "$@"
  before=$(grep -o ' epoch [0-9]*/' "$LOG" | tail -1 | tr -dc 0-9)
  wait_pid "$MP" 60
  ((WRC == 0)) || fail "mpirun exited $WRC after the ZooKeeper fault: $(grep ERROR "$LOG")"
  ! grep -q 'ERROR ' "$LOG" || fail "a rank logged an error: $(grep ERROR "$LOG")"
  after=$(grep -o ' epoch [0-9]*/' "$LOG" | tail -1 | tr -dc 0-9)
  ((after == 300)) || fail "training did not reach epoch 300 (last $after)"
  [[ -s $WORK/model.bin ]] || fail "no model written"
  for r in 0 1 2; do [[ $(rank_rc $r) == 0 ]] || fail "MPI rank $r exited $(rank_rc $r)"; done
  echo "measure: $scenario epochs after the fault $before->$after, mpirun exit 0"
}

job=$(job_name "mpi$scenario")
export RINGTRAIN_ZK_SESSION_TIMEOUT_MS=4000
case $scenario in
  kill_plain)
    start_zk
    MPI_FLAGS=()
    FAULT_RANK=2 FAULT_SPEC=kill-at-epoch:30 start_mpirun "$job" --epochs 100000000 --timeout 60
    wait_for_text "$LOG" "RINGTRAIN_FAULT: killing" 60
    wait_pid "$MP" 30
    echo "measure: $scenario mpirun_exit_s $WSECS code $WRC"
    ((WRC != 0)) || fail "mpirun exited 0 after a rank was killed"
    grep -q "rank 2" "$LOG" || fail "mpirun does not name rank 2: $(tail -n 5 "$LOG")"
    all_gone
    ;;
  kill_allreduce)
    survivors_report kill-at-epoch:30 30 killing 30 "the ring was lost"
    ;;
  kill_rendezvous)
    start_zk
    FAULT_RANK=2 FAULT_SPEC=kill-at-join start_mpirun "$job" --epochs 100000000 --timeout 15
    wait_for_text "$LOG" "RINGTRAIN_FAULT: killing" 60
    wait_pid "$MP" 40
    echo "measure: $scenario mpirun_exit_s $WSECS code $WRC"
    ((WRC != 0)) || fail "mpirun exited 0 after a rank was killed"
    for r in 0 1; do
      if [[ $(rank_rc $r) == 4 ]]; then
        survivor_exits $r 4 "$(fault_line killing)" "MPI rank 2"
      else
        survivor_exits $r 3 "$(fault_line killing)" "/ringtrain/$job" "3 expected"
      fi
    done
    all_gone
    ;;
  ckpt_write)
    start_zk
    args=(--epochs 400 --timeout 30 --checkpoint-every 100 --checkpoint-dir "$WORK/ck")
    FAULT_RANK=all FAULT_SPEC=after-checkpoint-write:200 start_mpirun "$job" "${args[@]}" \
      --output "$WORK/res.model"
    # A deadline, not the expected time (about 10 s idle; slower on a loaded 2-core host).
    wait_pid "$MP" 90
    echo "measure: $scenario mpirun_exit_s $WSECS code $WRC"
    ((WRC != 0)) || fail "mpirun exited 0 after the writer died"
    writer=""
    for r in 0 1 2; do [[ $(rank_rc $r) == 9 ]] && writer=$r; done
    [[ -n $writer ]] || fail "no rank exited 9 from the hook: rcs $(rank_rc 0) $(rank_rc 1) $(rank_rc 2)"
    fault=$(grep -m1 "RINGTRAIN_FAULT: exiting after writing" "$LOG")
    for r in 0 1 2; do
      ((r == writer)) || survivor_exits $r 4 "$fault" "MPI rank $writer"
    done
    all_gone
    # The rerun with --resume starts from the last recorded epoch (100, not the unrecorded 200).
    rm -f "$RANK_RC_DIR"/*
    start_mpirun "$job" "${args[@]}" --output "$WORK/res.model" --resume
    wait_pid "$MP" 60
    ((WRC == 0)) || fail "mpirun --resume exited $WRC: $(grep ERROR "$LOG")"
    grep -q "resuming job $job from epoch 100 " "$LOG" ||
      fail "the rerun did not resume from epoch 100: $(grep -m1 resuming "$LOG")"
    start_mpirun "$(job_name mpifull)" --epochs 400 --timeout 30 --output "$WORK/full.model"
    wait_pid "$MP" 60
    ((WRC == 0)) || fail "uninterrupted mpirun exited $WRC"
    [[ $(cksum <"$WORK/full.model") == $(cksum <"$WORK/res.model") ]] ||
      fail "the resumed model differs from the uninterrupted one"
    echo "measure: $scenario resumed from epoch 100, model == uninterrupted run"
    ;;
  sigstop)
    survivors_report stop-at-epoch:30 60 stopping 40
    ;;
  zk_restart)
    own_zk
    unset RINGTRAIN_ZK_SESSION_TIMEOUT_MS  # 10 s
    restart() {
      "$E2E_ROOT/scripts/zk.sh" kill "$ZK_DIR" 1
      local t=$SECONDS
      sleep 1
      "$E2E_ROOT/scripts/zk.sh" restart "$ZK_DIR" 1 >/dev/null
      echo "measure: $scenario zk_down_s $((SECONDS - t))"
      ((SECONDS - t < 10)) || fail "the restart took $((SECONDS - t)) s, not within the session timeout"
    }
    completes_despite_zk_fault "$job" restart
    all_gone
    ;;
  ensemble_one)
    own_zk --ensemble
    unset RINGTRAIN_ZK_SESSION_TIMEOUT_MS
    completes_despite_zk_fault "$job" "$E2E_ROOT/scripts/zk.sh" kill "$ZK_DIR" 1
    all_gone
    ;;
  quorum_lost)
    own_zk --ensemble
    start_mpirun "$job" --epochs 100000000 --timeout 30
    wait_for_text "$LOG" " epoch 20/" 60
    "$E2E_ROOT/scripts/zk.sh" kill "$ZK_DIR" 1
    "$E2E_ROOT/scripts/zk.sh" kill "$ZK_DIR" 2
    lost="quorum lost at $(date +%H:%M:%S.%3N)"
    wait_pid "$MP" 50
    echo "measure: $scenario mpirun_exit_s $WSECS (after the quorum loss) code $WRC"
    ((WRC != 0)) || fail "mpirun exited 0 without a quorum"
    # Every rank reports the loss itself and exits 3 or 4.
    for r in 0 1 2; do survivor_exits $r "3|4" "$lost" "ZooKeeper"; done
    all_gone
    ;;
  *) fail "unknown scenario $scenario" ;;
esac
grep -h 'ERROR ' "$LOG" | cut -c1-300 || true
pass "mpirun fault $scenario"
