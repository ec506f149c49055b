# tests/e2e/lib.sh — helpers for the end-to-end tests (sourced). The tests drive the user's
# scripts (scripts/launch.sh, scripts/mpirun.sh) and the ringtrain binary as a user would.
# shellcheck shell=bash
set -euo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${RINGTRAIN_BUILD_DIR:?RINGTRAIN_BUILD_DIR must name the build dir (set by CTest)}"
export RINGTRAIN_BUILD_DIR
BIN=$RINGTRAIN_BUILD_DIR/src/cli/ringtrain
HEART=/usr/share/doc/liblinear-tools/examples/heart_scale
FMNIST=/usr/share/datasets/fashion-mnist
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringtrain-e2e.XXXXXX")
E2E_CLEANUPS=()
e2e_cleanup() {
  local i
  for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${E2E_CLEANUPS[$i]}" || true; done
  rm -rf "$WORK"
}
trap e2e_cleanup EXIT
on_exit() { E2E_CLEANUPS+=("$1"); }

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

# Starts a throwaway ZooKeeper for this test (or reuses RINGTRAIN_TEST_ZK); sets ZK.
start_zk() {
  if [[ -n ${RINGTRAIN_TEST_ZK:-} ]]; then
    ZK=$RINGTRAIN_TEST_ZK
    return
  fi
  local out
  out=$("$E2E_ROOT/scripts/zk.sh" start)
  eval "$out"
  ZK=$ZK_CONNECT
  on_exit "'$E2E_ROOT/scripts/zk.sh' stop '$ZK_DIR'"
}

# json_field FILE KEY -> the value of KEY in the last JSON line of FILE.
json_field() { tail -n 1 "$1" | grep -o "\"$2\":[^,}]*" | head -1 | cut -d: -f2; }

# rel_diff A B -> |A-B| / max(|A|,|B|) as a float string.
rel_diff() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a);
  n = (b < 0 ? -b : b); if (n > m) m = n; if (m == 0) m = 1; printf "%.3e", d / m }'; }
# le X Y -> success if X <= Y (floats)
le() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x <= y) }'; }
job_name() { echo "e2e-$1-$$-$RANDOM"; }
