# tests/reliability/rel_lib.sh — helpers of the reliability suite (sourced after
# tests/e2e/lib.sh): run the real binary under a deadline and check its error contract.
# shellcheck shell=bash

# run_cli TAG TIMEOUT_S ARGS... -> runs $BIN ARGS under `timeout`, stdout/stderr to
# $WORK/TAG.out/.err; sets RC (137 = killed at the deadline), SECS (seconds) and ERR (stderr).
run_cli() {
  local tag=$1 t=$2
  shift 2
  RC=0
  local start
  start=$(date +%s.%N)
  timeout -s KILL "$t" "$BIN" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
  SECS=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN{printf "%.2f", a-b}')
  ERR=$(cat "$WORK/$tag.err")
}

# error_lines FILE -> the ERROR lines of a ringtrain log.
error_lines() { grep -E '^ERROR ' "$1" || true; }

# check_error TAG WANT_RC [--no-hint] [NEEDLE...] -> asserts: exit code WANT_RC, exactly one
# ERROR line on stderr, saying where ("(at ...)") and what to do ("; hint") unless --no-hint,
# and containing every NEEDLE. Records a table row in $WORK/table.
check_error() {
  local tag=$1 want=$2
  shift 2
  local hint=1
  if [[ ${1:-} == --no-hint ]]; then hint=0; shift; fi
  local lines n
  lines=$(error_lines "$WORK/$tag.err")
  n=$(printf '%s' "$lines" | grep -c '^ERROR' || true)
  [[ $RC -eq $want ]] || fail "$tag: exit $RC, want $want; stderr: $ERR"
  [[ $n -eq 1 ]] || fail "$tag: $n ERROR lines, want exactly 1; stderr: $ERR"
  [[ $lines == *"(at "* ]] || fail "$tag: the error does not say where: $lines"
  if ((hint)); then
    [[ $lines =~ \)\;\ .+ ]] || fail "$tag: the error does not say what to do: $lines"
  fi
  local needle
  for needle in "$@"; do
    [[ $lines == *"$needle"* ]] || fail "$tag: '$needle' not named in: $lines"
  done
  echo "| $tag | $RC | ${SECS:-?} s | ${lines#ERROR * }" >>"$WORK/table"
  pass "$tag -> exit $RC"
}

# Asserts that none of the given pids is alive (no process left behind).
assert_gone() {
  local pid
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      fail "process $pid was left behind"
    fi
  done
}

# wait_pid PID TIMEOUT_S -> waits for a background child of this shell; sets WRC (its exit
# code) and WSECS (seconds waited); fails the test if it outlives the deadline.
wait_pid() {
  local pid=$1 t=$2 start now
  start=$(date +%s.%N)
  while kill -0 "$pid" 2>/dev/null; do
    now=$(date +%s.%N)
    if le "$t" "$(awk -v a="$now" -v b="$start" 'BEGIN{print a-b}')"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      fail "pid $pid still running after ${t}s"
    fi
    sleep 0.05
  done
  WRC=0
  wait "$pid" || WRC=$?
  WSECS=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN{printf "%.2f", a-b}')
}

# wait_for_text FILE TEXT TIMEOUT_S -> waits until FILE contains TEXT (fails on deadline).
wait_for_text() {
  local f=$1 text=$2 t=$3 i
  for ((i = 0; i < t * 20; i++)); do
    grep -qF -- "$text" "$f" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "'$text' did not appear in $f within ${t}s: $(tail -n 5 "$f" 2>/dev/null)"
}

# own_zk [--ensemble] -> a ZooKeeper of this test's own (the fault tests kill and restart its
# servers, so not the shared RINGTRAIN_TEST_ZK): sets ZK and ZK_DIR, stopped on exit.
own_zk() {  # own standalone or ensemble ZooKeeper (restartable): sets ZK, ZK_DIR
  local out
  out=$("$E2E_ROOT/scripts/zk.sh" start "$@")
  eval "$out"
  ZK=$ZK_CONNECT
  on_exit "'$E2E_ROOT/scripts/zk.sh' stop '$ZK_DIR'"
}
