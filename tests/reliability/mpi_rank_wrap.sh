#!/usr/bin/env bash
# tests/reliability/mpi_rank_wrap.sh PROGRAM ARGS... — what mpirun starts in the fault tests:
# runs PROGRAM as this MPI rank and records its exit status in $RANK_RC_DIR/rc.<rank> (128+N
# for a signal), so a test sees every rank's own exit code, not only mpirun's. The rank named
# by $FAULT_RANK gets RINGTRAIN_FAULT=$FAULT_SPEC (the deterministic "fail rank R at step S"
# hook) and is exec'd, so mpirun sees that process itself die; FAULT_RANK=all gives every
# rank the hook (for hooks that fire on one role only, e.g. the checkpoint writer).
rank=${OMPI_COMM_WORLD_RANK:?not started by Open MPI mpirun}
if [[ ${FAULT_RANK:-} == all ]]; then
  export RINGTRAIN_FAULT=$FAULT_SPEC
elif [[ -n ${FAULT_RANK:-} && $rank == "$FAULT_RANK" ]]; then
  export RINGTRAIN_FAULT=$FAULT_SPEC
  echo "$$" >"${RANK_RC_DIR:?}/pid.$rank"
  exec "$@"
else
  unset RINGTRAIN_FAULT
fi
# mpirun ends a job by signalling each rank's process group (SIGTERM, later SIGKILL): the
# wrapper ignores SIGTERM/SIGINT so that it outlives them long enough to record how the rank
# itself ended, and starts the rank with the default dispositions restored. (A trap that
# forwarded the signal interrupted `wait`, whose status bash then sometimes reported as -1.)
trap '' TERM INT
env --default-signal=TERM,INT "$@" &
child=$!
echo "$child" >"${RANK_RC_DIR:?}/pid.$rank"
rc=0
wait "$child" || rc=$?
echo "$rc" >"$RANK_RC_DIR/rc.$rank"
exit "$rc"
