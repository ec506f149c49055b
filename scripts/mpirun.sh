#!/usr/bin/env bash
# mpirun.sh — the main job: ringtrain under mpirun.
#
#   scripts/mpirun.sh
#       On a fresh Debian 12 machine: installs what is missing, builds (Release,
#       incremental), starts a throwaway ZooKeeper, trains multinomial logistic regression on
#       Fashion-MNIST with 4 ranks, prints per-epoch progress and, last, a summary line with
#       test_accuracy=..., writes model and metrics under runs/<job>/, and stops what it
#       started (also on Ctrl-C).
#   scripts/mpirun.sh [-np N] [-H h1,h2 | --hostfile F] [--zk HOSTS] [--job NAME]
#                     [--config FILE] [--resume] [any `ringtrain train` option ...]
#   Without --zk the script runs its own ZooKeeper with its state in runs/<job>/zk, so
#   `scripts/mpirun.sh --job NAME --resume` continues a run that was stopped.
set -euo pipefail
source "$(dirname "$0")/common.sh"

given_args=("$@")  # repeated in the resume hint
np=4
mpi_args=()
train_args=()
zk=""
job=""
config="$RT_ROOT/configs/fashion_mnist_lr.toml"
while (($#)); do
  case $1 in
    -np|-n) np=$2; shift 2 ;;
    -H|--host) mpi_args+=(-H "$2"); shift 2 ;;
    --hostfile) mpi_args+=(--hostfile "$2"); shift 2 ;;
    --zk) zk=$2; shift 2 ;;
    --job) job=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) train_args+=("$1"); shift ;;
  esac
done
[[ $np =~ ^[0-9]+$ && $np -ge 1 ]] || rt_die "-np must be a positive integer, got '$np'"
[[ -f $config ]] || rt_die "config file '$config' not found"
command -v mpirun >/dev/null || "$RT_ROOT/scripts/setup.sh"

if [[ -z $job ]]; then job="fmnist-$(date +%Y%m%d-%H%M%S)"; fi
run_dir="$RT_ROOT/runs/$job"
mkdir -p "$run_dir"

rt_build

cleanup() { rt_cleanup_zk; }
trap cleanup EXIT
trap 'rt_log "interrupted"; exit 130' INT TERM

if [[ -z $zk ]]; then
  # The job's znodes (checkpoint records) live in the run folder, so rerunning this script
  # with --job NAME --resume finds them.
  rt_start_zk "$run_dir/zk"
  zk=$RT_ZK
fi

has_opt() { local o; for o in "${train_args[@]}"; do [[ $o == "$1" || $o == "$1="* ]] && return 0; done; return 1; }
has_opt --output || train_args+=(--output "$run_dir/model.bin")
has_opt --metrics || train_args+=(--metrics "$run_dir/metrics.jsonl")
has_opt --checkpoint-dir || train_args+=(--checkpoint-dir "$run_dir/checkpoints")
# Checkpoints every 10 epochs, so `scripts/mpirun.sh --job NAME --resume` can continue a run.
has_opt --checkpoint-every || train_args+=(--checkpoint-every 10)
mkdir -p "$run_dir/checkpoints"
has_opt --threads || train_args+=(--threads "$(rt_threads_per_rank "$np")")

root_args=()
if [[ $(id -u) -eq 0 ]]; then root_args=(--allow-run-as-root); fi
rt_log "job $job: $np ranks, config $config, ZooKeeper $zk, run folder $run_dir"
set +e
# --mca orte_abort_on_non_zero_status 0: when a rank dies, mpirun does not kill the others at
# once; each survivor detects the loss (ZooKeeper session expiry or the transport deadline),
# prints one error naming the lost rank and ends the job with MPI_Abort (exit 4). Plain
# mpirun works too but ends the job itself, before the survivors can say what happened
# (docs/reliability.md, "Under mpirun").
mpirun "${root_args[@]}" --oversubscribe --mca orte_abort_on_non_zero_status 0 -np "$np" \
  "${mpi_args[@]}" \
  -x OMP_NUM_THREADS -x OMP_PROC_BIND \
  "$RT_BIN" train --config "$config" --zk "$zk" --job "$job" --transport mpi "${train_args[@]}"
rc=$?
set -e
if ((rc != 0)); then
  # The resume hint only when a checkpoint of this job is recorded (asked while our own
  # ZooKeeper still runs), with the arguments this script was given (+ --job, + --resume).
  auth_args=()
  for ((i = 0; i < ${#train_args[@]}; i++)); do
    case ${train_args[$i]} in
      --zk-auth|--zk-auth-file) auth_args+=("${train_args[$i]}" "${train_args[$((i + 1))]:-}") ;;
      --zk-auth=*|--zk-auth-file=*) auth_args+=("${train_args[$i]}") ;;
    esac
  done
  records=$("$RT_BIN" checkpoints --job "$job" --zk "$zk" --timeout 10 "${auth_args[@]}" \
    --json list 2>/dev/null || true)
  if [[ $records == *'"epoch"'* ]]; then
    again=("$0" "${given_args[@]}")
    [[ " ${given_args[*]} " == *" --job "* ]] || again+=(--job "$job")
    [[ " ${given_args[*]} " == *" --resume "* || " ${given_args[*]} " == *" --resume-from "* ]] ||
      again+=(--resume)
    rt_log "training failed with exit code $rc (see the messages above); resume from the last checkpoint with: $(printf '%q ' "${again[@]}")"
  else
    rt_log "training failed with exit code $rc (see the messages above); no checkpoint of job $job is recorded, so there is nothing to resume: fix the cause and run again"
  fi
  exit "$rc"
fi
last=$(tail -n 1 "$run_dir/metrics.jsonl" 2>/dev/null || true)
acc=$(grep -o '"test_accuracy":[^,}]*' <<<"$last" | cut -d: -f2)
obj=$(grep -o '"objective":[^,}]*' <<<"$last" | cut -d: -f2)
ep=$(grep -o '"epoch":[^,}]*' <<<"$last" | cut -d: -f2)
wall=$(grep -o '"wall_s":[^,}]*' <<<"$last" | cut -d: -f2)
# No --test-data: the metrics say null; the summary then says n/a rather than a made-up 0.
if [[ -n $acc && $acc != null ]]; then acc=$(printf '%.4f' "$acc"); else acc=n/a; fi
printf 'summary job=%s ranks=%s epochs=%s objective=%s wall_s=%s model=%s test_accuracy=%s\n' \
  "$job" "$np" "${ep:-?}" "${obj:-?}" "${wall:-?}" "$run_dir/model.bin" "$acc"
