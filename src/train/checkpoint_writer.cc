// train/checkpoint_writer.cc — the after_epoch checkpoint policy and its background writer.
#include "train/checkpoint_writer.h"

#include <cstdio>
#include <utility>

#include "common/error.h"
#include "common/log.h"

namespace ringtrain::train {
namespace {
using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}
}  // namespace

Checkpointer::Checkpointer(const TrainOptions& options, std::string job, bool keep_every_epoch,
                           CheckpointSink sink, std::chrono::milliseconds supersede_after)
    : options_(options),
      job_(std::move(job)),
      keep_every_epoch_(keep_every_epoch),
      sink_(std::move(sink)),
      supersede_after_(supersede_after),
      options_hash_(OptionsHash(options)),
      options_text_(CanonicalText(options)) {
  if (options_.checkpoint_every > 0) writer_ = std::thread([this] { WriterLoop(); });
}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (queued_full_) {
      log::Warn("checkpoint of epoch " + std::to_string(queued_.epoch()) +
                " dropped: the run ended before it was written");
      queued_full_ = false;
    }
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void Checkpointer::SetRing(int rank, int world_size, std::int64_t generation) {
  rank_ = rank;
  world_size_ = world_size;
  generation_ = generation;
}

std::function<void(const TrainState&, const EpochMetrics&)> Checkpointer::Hook() {
  return [this](const TrainState& s, const EpochMetrics& m) { AfterEpoch(s, m); };
}

// Assigns field by field so `to`'s vectors and strings keep (and reuse) their capacity.
void Checkpointer::CopyInto(CheckpointFile& to, const TrainState& state,
                            const EpochMetrics& metrics) const {
  to.job = job_;
  to.options_hash = options_hash_;
  to.options_text = options_text_;
  to.generation = generation_;
  to.world_size = world_size_;
  to.state.model.spec = state.model.spec;
  to.state.model.weights.assign(state.model.weights.begin(), state.model.weights.end());
  to.state.model.epoch = state.model.epoch;
  to.state.optimizer_state.assign(state.optimizer_state.begin(), state.optimizer_state.end());
  to.state.options_hash = options_hash_;
  to.state.partitions = state.partitions;  // a few parts: copied, like the metrics line
  to.metrics_json = metrics.ToJson();
}

void Checkpointer::RethrowLocked(std::unique_lock<std::mutex>& lock) {
  if (!error_) return;
  std::exception_ptr e = std::exchange(error_, nullptr);
  lock.unlock();
  std::rethrow_exception(e);
}

bool Checkpointer::NeedsState(std::int64_t epoch) const {
  return keep_every_epoch_ ||
         (options_.checkpoint_every > 0 && epoch % options_.checkpoint_every == 0);
}

void Checkpointer::AfterEpoch(const TrainState& state, const EpochMetrics& metrics) {
  const auto t0 = Clock::now();
  const std::int64_t epoch = state.model.epoch;
  const bool write =
      rank_ == 0 && options_.checkpoint_every > 0 && epoch % options_.checkpoint_every == 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    RethrowLocked(lock);  // a failure of the writer surfaces at the next epoch boundary
  }
  const bool hold = NeedsState(epoch);
  if (!hold) return;
  if (!held_) held_.emplace();
  CopyInto(*held_, state, metrics);
  if (!write) return;

  std::unique_lock<std::mutex> lock(mu_);
  if (queued_full_) {
    // Backpressure while the writer is healthy; supersede once it has been stuck on its
    // current checkpoint for supersede_after_.
    const auto until = (busy_ ? busy_since_ : Clock::now()) + supersede_after_;
    cv_.wait_until(lock, until, [this] { return !queued_full_ || error_ != nullptr; });
    RethrowLocked(lock);
    if (queued_full_) {
      stats_.superseded += 1;
      log::Warn("checkpoint of epoch " + std::to_string(queued_.epoch()) +
                " skipped: superseded by epoch " + std::to_string(epoch) +
                " while the writer has been busy with epoch " + std::to_string(busy_epoch_) +
                " for more than " + std::to_string(supersede_after_.count()) + " ms");
    }
  }
  queued_ = *held_;  // copy-assignment reuses queued_'s buffers
  queued_full_ = true;
  queued_boundary_s_ = Seconds(t0);
  stats_.boundary_s += queued_boundary_s_;
  lock.unlock();
  cv_.notify_all();
}

void Checkpointer::Drain(Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline.at(),
                 [this] { return (!queued_full_ && !busy_) || error_ != nullptr; });
  RethrowLocked(lock);
  if (queued_full_ || busy_) {
    const std::int64_t epoch = busy_ ? busy_epoch_ : queued_.epoch();
    throw CheckpointError("the checkpoint of epoch " + std::to_string(epoch) +
                              " was not written and recorded before the deadline",
                          options_.checkpoint_dir,
                          "check the disk of --checkpoint-dir and the ZooKeeper servers; "
                          "resume from the last recorded checkpoint with --resume");
  }
}

CheckpointStats Checkpointer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Checkpointer::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return queued_full_ || stop_; });
    if (!queued_full_) return;  // stopped with nothing queued
    std::swap(work_, queued_);
    queued_full_ = false;
    busy_ = true;
    busy_since_ = Clock::now();
    busy_epoch_ = work_.epoch();
    const double boundary_s = queued_boundary_s_;
    lock.unlock();
    cv_.notify_all();  // the training thread may be waiting for the queue slot
    std::exception_ptr failure;
    try {
      WriteAndRecord(work_, boundary_s);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    busy_ = false;
    if (failure) {
      error_ = failure;
      if (queued_full_) {  // nothing is recorded past a failed checkpoint
        log::Warn("checkpoint of epoch " + std::to_string(queued_.epoch()) +
                  " dropped: the checkpoint of epoch " + std::to_string(work_.epoch()) + " failed");
        queued_full_ = false;
      }
    }
    cv_.notify_all();
  }
}

void Checkpointer::WriteAndRecord(const CheckpointFile& c, double boundary_s) {
  log::SetContext(0, c.world_size, c.generation);  // only rank 0 writes
  auto t0 = Clock::now();
  WrittenCheckpoint w = WriteCheckpoint(options_.checkpoint_dir, c);
  const double write_s = Seconds(t0);
  if (sink_.after_write) sink_.after_write(w, c);
  auto t1 = Clock::now();
  if (sink_.record) sink_.record(w, c);
  if (sink_.prune) {
    sink_.prune(options_.keep, c.epoch());
  } else {
    PruneCheckpointFiles(options_.checkpoint_dir, job_, options_.keep);
  }
  const double record_s = Seconds(t1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.written += 1;
    stats_.write_s += write_s;
    stats_.record_s += record_s;
    stats_.last_bytes = w.bytes;
  }
  char buf[200];
  std::snprintf(buf, sizeof buf,
                ": %lld bytes, written in %.2f ms, recorded in %.2f ms (in the background; "
                "epoch boundary %.3f ms)",
                static_cast<long long>(w.bytes), 1e3 * write_s, 1e3 * record_s, 1e3 * boundary_s);
  log::Info("checkpoint epoch " + std::to_string(c.epoch()) + " " + w.path + buf);
}

}  // namespace ringtrain::train
