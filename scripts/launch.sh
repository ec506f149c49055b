#!/usr/bin/env bash
# launch.sh — N plain ringtrain processes on this host (TCP transport, ZooKeeper rendezvous).
#
#   scripts/launch.sh -n N [--zk HOSTS] -- train --job NAME --config FILE ...
#   scripts/launch.sh                      the default demo (as scripts/mpirun.sh)
#
# Each rank's output is prefixed with [pN]. Ctrl-C / SIGTERM is forwarded to every rank.
# If any rank fails: names each failed rank with its exit code, and exits with the first
# failed rank's code (README exit codes). Starts (and stops) a throwaway
# ZooKeeper when no --zk is given in the ringtrain arguments.
set -euo pipefail
source "$(dirname "$0")/common.sh"

n=""
args=()
while (($#)); do
  case $1 in
    -n) n=$2; shift 2 ;;
    --) shift; args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) rt_die "unknown option '$1' (usage: launch.sh -n N -- <ringtrain args>)" ;;
  esac
done

if [[ -z $n && ${#args[@]} -eq 0 ]]; then
  # Default demo: the same job as scripts/mpirun.sh, as 4 plain processes.
  n=4
  job="demo-$(date +%Y%m%d-%H%M%S)"
  run_dir="$RT_ROOT/runs/$job"
  mkdir -p "$run_dir"
  args=(train --config "$RT_ROOT/configs/fashion_mnist_lr.toml" --job "$job"
        --output "$run_dir/model.bin" --metrics "$run_dir/metrics.jsonl")
  rt_log "default demo: $n ranks, Fashion-MNIST, run folder $run_dir"
fi
[[ -n $n && $n =~ ^[0-9]+$ && $n -ge 1 ]] || rt_die "-n N (N >= 1) is required"
((${#args[@]} > 0)) || rt_die "missing ringtrain arguments after --"

rt_build

has_opt() { local o; for o in "${args[@]}"; do [[ $o == "$1" || $o == "$1="* ]] && return 0; done; return 1; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rt_cleanup_zk
}
on_signal() {
  rt_log "interrupted: stopping ${#pids[@]} ranks"
  cleanup
  trap - EXIT
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

if [[ ${args[0]} == train ]]; then
  if ! has_opt --zk; then
    rt_start_zk
    args+=(--zk "$RT_ZK")
  fi
  has_opt --ranks || has_opt --min-ranks || args+=(--ranks "$n")
  has_opt --threads || args+=(--threads "$(rt_threads_per_rank "$n")")
  has_opt --transport || args+=(--transport tcp)
fi

for ((r = 0; r < n; r++)); do
  # $! is the ringtrain process itself (signals reach it); its output is prefixed by sed.
  "$RT_BIN" "${args[@]}" > >(sed -u "s/^/[p$r] /") 2>&1 &
  pids+=($!)
done

# Each rank's real exit code (`if ! wait` would leave $? = 0: the negation's status). The
# script exits with the first failed rank's code (by rank order), so the README's table holds
# for it too; a rank ended by a signal has 128+N.
failed=()
first_rc=0
for ((r = 0; r < n; r++)); do
  rc=0
  wait "${pids[$r]}" || rc=$?
  if ((rc != 0)); then
    failed+=("rank process $r (pid ${pids[$r]}) exited with code $rc")
    ((first_rc != 0)) || first_rc=$rc
  fi
done
pids=()
if ((${#failed[@]})); then
  for f in "${failed[@]}"; do rt_log "$f"; done
  rt_log "${#failed[@]} of $n rank processes failed; exit code $first_rc (rank order's first)"
  exit "$first_rc"
fi
rt_log "all $n ranks finished"
