#include "cli/fault_hooks.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/log.h"

namespace ringtrain::cli {

Faults ReadFaults() {
  Faults f;
  const char* v = std::getenv("RINGTRAIN_FAULT");
  if (v == nullptr) return f;
  std::string s(v);
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(pos, end - pos);
    const auto colon = item.find(':');
    const std::string key = item.substr(0, colon);
    long long value = -1;
    if (colon != std::string::npos) value = std::atoll(item.c_str() + colon + 1);
    if (key == "after-checkpoint-write" && value >= 0) {
      f.after_write = value;
    } else if (key == "epoch-delay" && value >= 0) {
      f.epoch_delay_ms = static_cast<int>(value);
    } else if (key == "kill-at-epoch" && value >= 0) {
      f.kill_at = value;
    } else if (key == "stop-at-epoch" && value >= 0) {
      f.stop_at = value;
    } else if (key == "kill-at-partition" && value >= 1) {
      f.kill_at_partition = value;
    } else if (key == "slow-rows" && value >= 0) {
      f.slow_row_us = value;
    } else if (key == "kill-at-join" && colon == std::string::npos) {
      f.kill_at_join = true;
    } else if (!item.empty()) {
      throw UsageError("unknown RINGTRAIN_FAULT item '" + item + "'", "environment",
                       "use after-checkpoint-write:EPOCH, epoch-delay:MS, kill-at-epoch:EPOCH, "
                       "stop-at-epoch:EPOCH, kill-at-partition:GENERATION, slow-rows:US or "
                       "kill-at-join, or "
                       "unset it");
    }
    pos = end + 1;
  }
  return f;
}

train::JobHooks FaultJobHooks(const Faults& faults) {
  train::JobHooks hooks;
  if (faults.after_write >= 0) {
    hooks.after_checkpoint_write = [fault = faults.after_write](const train::WrittenCheckpoint& w,
                                                                const train::CheckpointFile& c) {
      if (c.epoch() != fault) return;
      log::Error("RINGTRAIN_FAULT: exiting after writing " + w.path + " before recording it");
      ::_exit(9);
    };
  }
  if (faults.epoch_delay_ms > 0 || faults.kill_at >= 0 || faults.stop_at >= 0) {
    hooks.after_epoch = [faults](const train::TrainState& s, const train::EpochMetrics&) {
      if (faults.epoch_delay_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(faults.epoch_delay_ms));
      if (faults.kill_at >= 0 && s.model.epoch == faults.kill_at) {
        log::Warn("RINGTRAIN_FAULT: killing this process after epoch " +
                  std::to_string(s.model.epoch));
        ::raise(SIGKILL);
      }
      if (faults.stop_at >= 0 && s.model.epoch == faults.stop_at) {
        log::Warn("RINGTRAIN_FAULT: stopping this process after epoch " +
                  std::to_string(s.model.epoch));
        ::raise(SIGSTOP);
      }
    };
  }
  if (faults.kill_at_partition >= 1) {
    hooks.before_move = [g = faults.kill_at_partition](const PartitionMap& next) {
      if (next.generation != g) return;
      log::Warn("RINGTRAIN_FAULT: killing this process while the ranks move to partition " +
                std::to_string(g));
      ::raise(SIGKILL);
    };
  }
  if (faults.slow_row_us > 0) {
    hooks.after_compute = [us = faults.slow_row_us](double, std::int64_t rows) {
      std::this_thread::sleep_for(std::chrono::microseconds(us * rows));
    };
  }
  return hooks;
}

}  // namespace ringtrain::cli
