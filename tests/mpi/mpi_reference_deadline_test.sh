#!/usr/bin/env bash
# The reference MpiCommunicator keeps its deadline although MPI cannot cancel a blocked
# collective: with MPI rank 1 absent, rank 0's MPI_Allreduce ends the job by its watchdog
# (one ERROR line, exit code 4) at the timeout or on Abort(); calls that each finish in time
# never trip it. Usage: mpi_reference_deadline_test.sh MPIEXEC HELPER
set -u
mpiexec=${1:?mpiexec}
helper=${2:?mpi_stall_helper}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; cat "$out"; exit 1; }

# run MODE -> RC and SECS of `mpiexec -np 2 helper MODE` (a 60 s outer deadline).
run() {
  local t0=$EPOCHREALTIME
  timeout -k 5 60 "$mpiexec" --oversubscribe -np 2 "$helper" "$1" >"$out" 2>&1
  RC=$?
  SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  echo "measure: $1 mpiexec exit $RC after $SECS s"
}

run timeout
((RC != 0 && RC != 124)) || fail "timeout: mpiexec exited $RC, want the job ended non-zero"
grep -q '^ERROR .*MPI_Allreduce on MPI_COMM_WORLD did not complete within 500 ms' "$out" ||
  fail "timeout: no watchdog ERROR line"
awk -v s="$SECS" 'BEGIN { exit !(s < 10) }' || fail "timeout: took $SECS s (rank 1 sleeps 20 s)"
grep -q 'returned without rank 1' "$out" && fail "timeout: the allreduce returned"

run abort
((RC != 0 && RC != 124)) || fail "abort: mpiexec exited $RC"
grep -q '^ERROR .*MPI_Allreduce on MPI_COMM_WORLD was still blocked when the communicator was aborted' \
  "$out" || fail "abort: no watchdog ERROR line"
awk -v s="$SECS" 'BEGIN { exit !(s < 10) }' || fail "abort: took $SECS s (timeout 60 s)"

run busy
((RC == 0)) || fail "busy: mpiexec exited $RC: the watchdog fired on calls that finished in time"
grep -q '^ERROR' "$out" && fail "busy: an ERROR line"
echo "PASS: the reference communicator keeps its deadline"
