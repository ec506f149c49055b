// train/partitions.h — the partition map of a running job: the equal split a ring starts
// with, the balanced map the ranks move to when one is slower, and the move itself.
//
// Balancing (docs/balancing.md): each rank's compute and optimizer seconds per epoch ride in
// the gradient allreduce (DistributedObjective), so every rank holds the same figures and
// makes the same decision with no extra round: when the slowest rank's time exceeds the
// fastest's by more than --balance-threshold for two consecutive epochs (and the slowest
// spends at least kBalanceMinSeconds), the ranks compute the same new map — the rows that
// equalise their predicted times, cut at row boundaries (ProportionalRows) — at the epoch
// boundary, and
// each moves to its new rows: it keeps the rows it holds and reads only the rows it gains
// (one ranged read before and one after what it keeps). The leader publishes every map
// (and the measured figures) to ZooKeeper through the job's hook; the map in effect is
// recorded in each checkpoint so a resume continues with it.
// Thread-safety: one call per rank thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/partition.h"
#include "models/dataset.h"
#include "train/options.h"

namespace ringtrain::train {

// The slowest rank must spend at least this long computing per epoch before the ranks are
// balanced: below it timer noise and scheduling dominate (and tiny jobs keep equal splits).
inline constexpr double kBalanceMinSeconds = 0.02;
// The longest run of uneven epochs a move waits for (Balancer), and the even epochs after
// which that run halves again.
inline constexpr int kBalanceMaxStreak = 16;
inline constexpr int kBalanceEvenEpochs = 8;

// Reads a part of `path` (shard s of n, or the source range [range_begin, range_end) when
// range_begin >= 0); `labels_option` names the labels flag in messages; `class_labels`: the
// labels are classes (a non-integer label is refused). Throws DataError / UsageError.
models::Dataset ReadPart(const std::string& path, const std::string& labels,
                         const char* labels_option, const TrainOptions& options, int shard,
                         int shards, bool class_labels, std::int64_t range_begin = -1,
                         std::int64_t range_end = -1);

// The map of the shards every rank holds now (one allreduce). `generation` and `epoch` are
// the caller's; the source is options.data.
PartitionMap GatherMap(const models::Dataset& shard, allreduce::Communicator& comm,
                       const TrainOptions& options, std::int64_t generation,
                       std::int64_t ring_generation, std::int64_t epoch, std::string reason);

// Whether `map` can be read as is by a ring of `world` ranks training options.data.
bool MapFits(const PartitionMap& map, int world, const TrainOptions& options);

// Every rank: the map giving each rank `rows` (Balancer::rows()), cut at rows (one
// allreduce: the owner of each new cut row gives its source position). Measured figures are
// copied from `current`.
PartitionMap BalancedMap(const PartitionMap& current, std::span<const std::int64_t> rows,
                         const models::Dataset& shard, allreduce::Communicator& comm,
                         std::int64_t epoch);

// Moves this rank's training shard from its part of `current` to its part of `next`: keeps
// the rows both hold, reads the rows it gains (fitted to the agreed features and classes).
// Throws DataError if the read rows do not match the map (the file changed).
void MoveToPart(models::Dataset& shard, const PartitionMap& current, const PartitionMap& next,
                int rank, const TrainOptions& options, std::int64_t num_features,
                std::span<const double> classes);

// Decides when to rebalance from each epoch's compute and optimizer seconds (every rank
// feeds the same figures, so every rank decides alike). A rank's time in an epoch is its
// compute (in proportion to its rows) plus its optimizer's own work (the same on every rank
// whatever its rows, and slower on a slower rank). An epoch is uneven when the slowest rank's
// time exceeds 1 + threshold times the fastest's (and is at least kBalanceMinSeconds); the
// ranks move after `needed` consecutive uneven epochs with the same slowest rank — noise on
// a loaded host makes a different rank the slowest from epoch to epoch, a slow host does
// not — to the rows that equalise the ranks' predicted times at the speeds (rows / compute
// seconds) and optimizer seconds summed over those epochs (ProportionalRows), when the
// predicted slowest time drops by more than half the threshold. `needed` starts at 2 and
// doubles (up to kBalanceMaxStreak) with every move that reverses the previous one — the
// slowest rank is one that gained rows at the last move: an overshoot, or a speed that keeps
// changing (a noisy neighbour costs a few moves, not one every other epoch, each reading
// rows); a move that continues the last (the same rank still too slow) keeps it. Every
// kBalanceEvenEpochs even epochs in a row halve it again.
class Balancer {
 public:
  explicit Balancer(double threshold) : threshold_(threshold) {}
  // compute_s, optimizer_s and rows by rank for the epoch just done. True when the ranks
  // should move to rows() now.
  bool Observe(std::span<const double> compute_s, std::span<const double> optimizer_s,
               std::span<const std::int64_t> rows);
  // The rows per rank to move to (when Observe returned true), and the speeds (rows per
  // second of compute) and optimizer seconds per epoch they were computed from.
  const std::vector<std::int64_t>& rows() const { return next_; }
  const std::vector<double>& rows_per_s() const { return rows_per_s_; }
  const std::vector<double>& optimizer_s() const { return optimizer_s_; }

 private:
  double threshold_;
  int over_ = 0;    // consecutive uneven epochs with the same slowest rank
  int needed_ = 2;  // uneven epochs a move waits for
  int even_ = 0;    // consecutive even epochs
  std::size_t slowest_ = 0;
  std::vector<double> summed_compute_;  // seconds by rank over those epochs
  std::vector<double> summed_optimizer_;
  std::vector<bool> gained_;  // by rank: gained rows at the last move
  std::vector<double> rows_per_s_;
  std::vector<double> optimizer_s_;
  std::vector<std::int64_t> next_;
};

}  // namespace ringtrain::train
