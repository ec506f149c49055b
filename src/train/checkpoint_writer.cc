// train/checkpoint_writer.cc — the after_epoch checkpoint policy.
#include "train/checkpoint_writer.h"

#include <chrono>
#include <cstdio>

#include "common/log.h"

namespace ringtrain::train {
namespace {
using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}
}  // namespace

Checkpointer::Checkpointer(const TrainOptions& options, std::string job, bool keep_every_epoch,
                           CheckpointSink sink)
    : options_(options),
      job_(std::move(job)),
      keep_every_epoch_(keep_every_epoch),
      sink_(std::move(sink)) {}

void Checkpointer::SetRing(int rank, int world_size, std::int64_t generation) {
  rank_ = rank;
  world_size_ = world_size;
  generation_ = generation;
}

std::function<void(const TrainState&, const EpochMetrics&)> Checkpointer::Hook() {
  return [this](const TrainState& s, const EpochMetrics& m) { AfterEpoch(s, m); };
}

void Checkpointer::AfterEpoch(const TrainState& state, const EpochMetrics& metrics) {
  const std::int64_t epoch = state.model.epoch;
  const bool write = options_.checkpoint_every > 0 && epoch % options_.checkpoint_every == 0;
  if (!write && !keep_every_epoch_) return;
  CheckpointFile c;
  c.job = job_;
  c.options_hash = OptionsHash(options_);
  c.options_text = CanonicalText(options_);
  c.generation = generation_;
  c.world_size = world_size_;
  c.state = state;
  c.state.options_hash = c.options_hash;
  c.metrics_json = metrics.ToJson();
  if (write && rank_ == 0) {
    auto t0 = Clock::now();
    WrittenCheckpoint w = WriteCheckpoint(options_.checkpoint_dir, c);
    const double write_s = Seconds(t0);
    if (sink_.after_write) sink_.after_write(w, c);
    auto t1 = Clock::now();
    if (sink_.record) sink_.record(w, c);
    if (sink_.prune) {
      sink_.prune(options_.keep);
    } else {
      PruneCheckpointFiles(options_.checkpoint_dir, job_, options_.keep);
    }
    const double record_s = Seconds(t1);
    stats_.written += 1;
    stats_.write_s += write_s;
    stats_.record_s += record_s;
    stats_.last_bytes = w.bytes;
    char buf[160];
    std::snprintf(buf, sizeof buf, ": %lld bytes, written in %.2f ms, recorded in %.2f ms",
                  static_cast<long long>(w.bytes), 1e3 * write_s, 1e3 * record_s);
    log::Info("checkpoint epoch " + std::to_string(epoch) + " " + w.path + buf);
  }
  held_ = std::move(c);
}

}  // namespace ringtrain::train
