// train/checkpoint_writer.h — when and how a running job checkpoints (the after_epoch hook).
//
// Every `--checkpoint-every K` epochs the leader writes the checkpoint file atomically
// (WriteCheckpoint), then — only once the file is durable — calls the sink's `record` (cli/
// plugs in the ZooKeeper registry: record + latest in one multi fenced by the generation),
// then prunes to `--keep` (sink.prune: registry records and their files together; without a
// sink, the files of this job in --checkpoint-dir). Every rank, leader or not, keeps the last
// checkpoint's state in memory (held()), so after an elastic re-formation any survivor can
// hand it to the new ring (ShareNewestCheckpoint). With keep_every_epoch (elastic without
// --checkpoint-every) the in-memory copy is taken after every epoch and nothing is written.
//
// What it must not know: ZooKeeper (the sink is plain std::function). Thread-safety: used by
// the rank's trainer thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "train/checkpoint.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train {

struct CheckpointSink {
  // Runs after the file is durable, before it is recorded (a fault-injection point).
  std::function<void(const WrittenCheckpoint&, const CheckpointFile&)> after_write;
  // Records the durable file (null: standalone, nothing to record).
  std::function<void(const WrittenCheckpoint&, const CheckpointFile&)> record;
  // Keeps the newest `keep` (records and files); null: PruneCheckpointFiles in the directory.
  std::function<void(int keep)> prune;
};

struct CheckpointStats {
  std::int64_t written = 0;
  double write_s = 0;   // encode + atomic write (fsyncs included)
  double record_s = 0;  // registry record + prune
  std::int64_t last_bytes = 0;
};

class Checkpointer {
 public:
  Checkpointer(const TrainOptions& options, std::string job, bool keep_every_epoch,
               CheckpointSink sink);
  // The ring the next epochs run in (rank 0 writes).
  void SetRing(int rank, int world_size, std::int64_t generation);
  // The TrainHooks::after_epoch body.
  void AfterEpoch(const TrainState& state, const EpochMetrics& metrics);
  // A TrainHooks::after_epoch calling AfterEpoch (this must outlive the training).
  std::function<void(const TrainState&, const EpochMetrics&)> Hook();
  const std::optional<CheckpointFile>& held() const { return held_; }
  void Hold(CheckpointFile c) { held_ = std::move(c); }
  const CheckpointStats& stats() const { return stats_; }

 private:
  const TrainOptions& options_;
  std::string job_;
  bool keep_every_epoch_;
  CheckpointSink sink_;
  int rank_ = 0, world_size_ = 1;
  std::int64_t generation_ = 0;
  std::optional<CheckpointFile> held_;
  CheckpointStats stats_;
};

}  // namespace ringtrain::train
