// cli/fault_hooks.h — the RINGTRAIN_FAULT test hooks of `ringtrain train` and the
// job hooks that run them.
//
// Deterministic fault injection for the reliability tests ("fail rank R at step S": the
// variable is given to the one process that should fail; docs/checkpoints.md lists the
// hooks). Unset, every hook is off. Internal to the train
// command (the only place of the train path that reads the environment).
#pragma once

#include <cstdint>
#include <functional>

#include "train/job.h"

namespace ringtrain::cli {

// RINGTRAIN_FAULT (test hooks, comma-separated; docs/checkpoints.md):
//   after-checkpoint-write:EPOCH  _exit(9) once the checkpoint file of EPOCH is durable but
//                                 before it is recorded;
//   epoch-delay:MS                sleep MS ms after every epoch (makes short runs long enough
//                                 to kill or stop a rank mid-run);
//   kill-at-epoch:EPOCH           this process SIGKILLs itself once EPOCH is done (set the
//                                 variable on the one process to fail: "fail rank R at step S");
//   stop-at-epoch:EPOCH           likewise with SIGSTOP (a pause past the session timeout);
//   kill-at-join                  SIGKILL right after the member znode is created, before
//                                 the ring forms (a rank lost during rendezvous);
//   kill-at-partition:GEN         SIGKILL once the ranks agreed to move to balanced partition
//                                 map GEN, before this process reads its new rows (and, on
//                                 the leader, before it publishes the map);
//   slow-rows:US                  every gradient/Hessian computation of this process sleeps
//                                 US microseconds per row it touched, counted as compute (a
//                                 host of known speed, for the load-balancing tests).
struct Faults {
  bool kill_at_join = false;
  std::int64_t after_write = -1;
  int epoch_delay_ms = 0;
  std::int64_t kill_at = -1;
  std::int64_t stop_at = -1;
  std::int64_t kill_at_partition = -1;
  std::int64_t slow_row_us = 0;
};

// RINGTRAIN_FAULT parsed; a UsageError (exit 1) names an unknown item.
Faults ReadFaults();
// The job's hooks running the faults: after-checkpoint-write on the writer thread; the
// epoch-delay / kill / stop faults after each epoch (once the checkpointer has taken it).
train::JobHooks FaultJobHooks(const Faults& faults);

}  // namespace ringtrain::cli
