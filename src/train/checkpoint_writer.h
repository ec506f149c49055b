// train/checkpoint_writer.h — when and how a running job checkpoints (the after_epoch hook).
//
// Every `--checkpoint-every K` epochs the leader copies the state at the epoch boundary
// (buffers reused; a few MB) and hands it to a background writer thread, which writes the
// checkpoint file atomically (WriteCheckpoint), then — only once the file is durable — calls
// the sink's `record` (cli/ plugs in the ZooKeeper registry: record + latest in one multi
// fenced by the generation), then prunes to `--keep` (sink.prune: registry records and their
// files together; without a sink, the files of this job in --checkpoint-dir). Every rank,
// leader or not, keeps the last checkpoint's state in memory (held()), so after an elastic
// re-formation any survivor can hand it to the new ring (ShareNewestCheckpoint). With
// keep_every_epoch (elastic without --checkpoint-every) the in-memory copy is taken after
// every epoch and nothing is written.
//
// The writer's guarantees (docs/checkpoints.md, "Writing and recording"):
//  - one writer thread, one checkpoint in flight and at most one queued: files are written and
//    records made in epoch order, each file durable before its record;
//  - a healthy writer never drops a checkpoint: if the previous one is still queued at the next
//    epoch boundary, the training thread waits for the writer to take it (backpressure) — but
//    only until the writer has been busy with its current checkpoint for `supersede_after`
//    (ZooKeeper failing over, a slow disk); then the queued older checkpoint is superseded by
//    the newer one (skipped: neither written nor recorded; WARN + stats().superseded);
//  - a failure in the writer (CheckpointError writing the file, RendezvousError recording it,
//    e.g. a deposed leader fenced out) is kept with its type and rethrown on the training
//    thread at the next epoch boundary (AfterEpoch) or by Drain(); after a failure the queued
//    checkpoint is discarded, so nothing is recorded past a failed one;
//  - Drain(deadline) waits for the queue to empty: at the end of training, before an elastic
//    re-formation (so the record is fenced by the generation that took it), on resume.
//
// What it must not know: ZooKeeper (the sink is plain std::function). Thread-safety: the
// public methods are called from the rank's training thread only; the sink's after_write,
// record and prune run on the writer thread (one at a time, never concurrently).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/deadline.h"
#include "train/checkpoint.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train {

struct CheckpointSink {
  // Runs on the writer thread after the file is durable, before it is recorded (a
  // fault-injection point).
  std::function<void(const WrittenCheckpoint&, const CheckpointFile&)> after_write;
  // Records the durable file (null: standalone, nothing to record).
  std::function<void(const WrittenCheckpoint&, const CheckpointFile&)> record;
  // Keeps the newest `keep` (records and files); null: PruneCheckpointFiles in the directory.
  std::function<void(int keep, std::int64_t newest)> prune;  // newest: the epoch just recorded
};

struct CheckpointStats {
  std::int64_t written = 0;     // checkpoints written and recorded
  std::int64_t superseded = 0;  // queued checkpoints skipped for a newer one
  double write_s = 0;           // writer thread: encode + atomic write (fsyncs included)
  double record_s = 0;          // writer thread: registry record + prune
  double boundary_s = 0;        // training thread: copy + queue (+ waiting for the writer)
  std::int64_t last_bytes = 0;
};

class Checkpointer {
 public:
  static constexpr std::chrono::milliseconds kDefaultSupersedeAfter{5000};

  Checkpointer(const TrainOptions& options, std::string job, bool keep_every_epoch,
               CheckpointSink sink,
               std::chrono::milliseconds supersede_after = kDefaultSupersedeAfter);
  // Stops the writer: a checkpoint being written finishes (bounded by the sink's own
  // deadlines); a queued one is dropped with a WARN. Call Drain() first to keep it.
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // The ring the next epochs run in (rank 0 writes). Drain() before changing it.
  void SetRing(int rank, int world_size, std::int64_t generation);
  // The TrainHooks::after_epoch body. Rethrows a failure of the writer first.
  void AfterEpoch(const TrainState& state, const EpochMetrics& metrics);
  // Whether AfterEpoch keeps the state of this epoch (TrainHooks::needs_state).
  bool NeedsState(std::int64_t epoch) const;
  // A TrainHooks::after_epoch calling AfterEpoch (this must outlive the training).
  std::function<void(const TrainState&, const EpochMetrics&)> Hook();
  // Waits until every queued checkpoint is written and recorded. Rethrows a failure of the
  // writer (once); CheckpointError (exit 5) if the deadline passes first.
  void Drain(Deadline deadline);
  const std::optional<CheckpointFile>& held() const { return held_; }
  void Hold(CheckpointFile c) { held_ = std::move(c); }
  CheckpointStats stats() const;

 private:
  void CopyInto(CheckpointFile& to, const TrainState& state, const EpochMetrics& metrics) const;
  void WriterLoop();
  void WriteAndRecord(const CheckpointFile& c, double boundary_s);
  void RethrowLocked(std::unique_lock<std::mutex>& lock);

  const TrainOptions& options_;
  std::string job_;
  bool keep_every_epoch_;
  CheckpointSink sink_;
  std::chrono::milliseconds supersede_after_;
  std::string options_hash_, options_text_;
  int rank_ = 0, world_size_ = 1;
  std::int64_t generation_ = 0;
  std::optional<CheckpointFile> held_;  // training thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  CheckpointFile queued_;  // valid while queued_full_; its buffers are reused
  double queued_boundary_s_ = 0;
  CheckpointFile work_;  // writer thread only (swapped with queued_)
  bool queued_full_ = false;
  bool busy_ = false;  // the writer is working on a checkpoint
  std::chrono::steady_clock::time_point busy_since_;
  std::int64_t busy_epoch_ = -1;
  bool stop_ = false;
  std::exception_ptr error_;
  CheckpointStats stats_;
  std::thread writer_;  // last: started after everything above exists
};

}  // namespace ringtrain::train
