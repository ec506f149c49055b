// train/partitions.cc — equal split, balanced map, and the move between them (partitions.h).
#include "train/partitions.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

std::string UnitOf(const TrainOptions& o) {
  const auto format =
      o.format.empty() ? models::GuessFormat(o.data) : models::ParseFormat(o.format);
  return format == models::Format::kIdx ? "rows" : "bytes";
}

// Reads [begin, end) of the source, fitted to the agreed features and classes.
models::Dataset ReadGain(const TrainOptions& o, std::int64_t begin, std::int64_t end,
                         std::int64_t num_features, std::span<const double> classes) {
  // Rows gained by a move were read (and checked) when the ring formed: a classifier's labels
  // are classes, a regression model's are the raw targets.
  const bool classifier = !models::IsRegression(o.choices.loss);
  models::Dataset piece = ReadPart(o.data, o.labels, "--labels", o, 0, 1, classifier, begin, end);
  FitFeatures(piece, num_features);
  if (classifier) models::AssignClasses(piece, classes);  // every class was agreed already
  return piece;
}

}  // namespace

models::Dataset ReadPart(const std::string& path, const std::string& labels,
                         const char* labels_option, const TrainOptions& o, int shard, int shards,
                         bool class_labels, std::int64_t range_begin, std::int64_t range_end) {
  models::ReadOptions ro = ReaderOptions(o, path, labels, labels_option);
  ro.shard = shard;
  ro.num_shards = shards;
  ro.class_labels = class_labels;
  ro.range_begin = range_begin;
  ro.range_end = range_end;
  return models::ReadShard(ro);
}

PartitionMap GatherMap(const models::Dataset& shard, allreduce::Communicator& comm,
                       const TrainOptions& o, std::int64_t generation, std::int64_t ring_generation,
                       std::int64_t epoch, std::string reason) {
  const auto world = static_cast<std::size_t>(comm.world_size());
  constexpr std::size_t kFields = 5;
  // Doubles hold integers exactly up to 2^53: enough for byte offsets and row counts.
  std::vector<double> slots(world * kFields, 0.0);
  double* mine = slots.data() + static_cast<std::size_t>(comm.rank()) * kFields;
  mine[0] = static_cast<double>(shard.source_begin);
  mine[1] = static_cast<double>(shard.source_end);
  mine[2] = static_cast<double>(shard.first_row);
  mine[3] = static_cast<double>(shard.rows());
  mine[4] = static_cast<double>(shard.nonzeros());
  comm.AllreduceSum(std::span<double>(slots));
  PartitionMap map;
  map.generation = generation;
  map.ring_generation = ring_generation;
  map.epoch = epoch;
  map.source = o.data;
  map.unit = UnitOf(o);
  map.source_size = shard.source_size;
  map.reason = std::move(reason);
  for (std::size_t r = 0; r < world; ++r) {
    Part p;
    p.begin = static_cast<std::int64_t>(slots[r * kFields]);
    p.end = static_cast<std::int64_t>(slots[r * kFields + 1]);
    p.first_row = static_cast<std::int64_t>(slots[r * kFields + 2]);
    p.rows = static_cast<std::int64_t>(slots[r * kFields + 3]);
    p.nonzeros = static_cast<std::int64_t>(slots[r * kFields + 4]);
    map.total_rows += p.rows;
    map.parts.push_back(p);
  }
  const std::string fault = PartitionMapFault(map);
  if (!fault.empty())
    throw DataError("the ranks' shards do not tile the data: " + fault, o.data,
                    "every rank must read the same file (same size and contents)");
  return map;
}

bool MapFits(const PartitionMap& map, int world, const TrainOptions& o) {
  return static_cast<int>(map.parts.size()) == world && map.source == o.data &&
         map.unit == UnitOf(o) && PartitionMapFault(map).empty();
}

PartitionMap BalancedMap(const PartitionMap& current, std::span<const std::int64_t> rows,
                         const models::Dataset& shard, allreduce::Communicator& comm,
                         std::int64_t epoch) {
  const std::size_t world = current.parts.size();
  const int rank = comm.rank();
  const Part& mine = current.parts[static_cast<std::size_t>(rank)];
  // Stored values before this rank's first row, and before each of its rows.
  std::int64_t nnz_before = 0;
  for (int r = 0; r < rank; ++r) nnz_before += current.parts[static_cast<std::size_t>(r)].nonzeros;
  // Cut k (1..world-1) starts rank k's rows: its source position and stored values before it,
  // given by the rank that holds that row.
  std::vector<std::int64_t> cut(world + 1, 0);
  for (std::size_t k = 0; k < world; ++k) cut[k + 1] = cut[k] + rows[k];
  std::vector<double> slots(2 * (world + 1), 0.0);
  for (std::size_t k = 1; k < world; ++k) {
    const std::int64_t c = cut[k];
    if (c < mine.first_row || c >= mine.first_row + mine.rows) continue;
    const std::int64_t local = c - mine.first_row;
    slots[2 * k] = static_cast<double>(shard.SourcePosition(local));
    const std::int64_t stored = shard.is_dense() ? local * shard.dense_cols
                                                 : shard.row_ptr[static_cast<std::size_t>(local)];
    slots[2 * k + 1] = static_cast<double>(nnz_before + stored);
  }
  comm.AllreduceSum(std::span<double>(slots));
  std::int64_t total_nnz = 0;
  for (const Part& p : current.parts) total_nnz += p.nonzeros;
  std::vector<std::int64_t> pos(world + 1), nnz(world + 1);
  for (std::size_t k = 0; k <= world; ++k) {
    const bool end = cut[k] == current.total_rows;
    pos[k] = k == 0 ? 0 : end ? current.source_size : static_cast<std::int64_t>(slots[2 * k]);
    nnz[k] = k == 0 ? 0 : end ? total_nnz : static_cast<std::int64_t>(slots[2 * k + 1]);
  }
  PartitionMap next = current;
  next.generation = current.generation + 1;
  next.epoch = epoch;
  for (std::size_t r = 0; r < world; ++r) {
    Part& p = next.parts[r];
    p.begin = pos[r];
    p.end = pos[r + 1];
    p.first_row = cut[r];
    p.rows = rows[r];
    p.nonzeros = nnz[r + 1] - nnz[r];
  }
  char why[160];
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const Part& p : current.parts)
    if (p.rows > 0) lo = std::min(lo, p.compute_s), hi = std::max(hi, p.compute_s);
  std::snprintf(why, sizeof why, "balance: compute %.3g-%.3g s per epoch", lo, hi);
  next.reason = why;
  const std::string fault = PartitionMapFault(next);
  if (!fault.empty())  // a bug, not an input: the cuts come from the ranks' own shards
    throw DataError("the balanced partition map does not tile the data: " + fault, current.source,
                    "report this; rerun with --balance off");
  return next;
}

void MoveToPart(models::Dataset& shard, const PartitionMap& current, const PartitionMap& next,
                int rank, const TrainOptions& o, std::int64_t num_features,
                std::span<const double> classes) {
  const Part& was = current.parts[static_cast<std::size_t>(rank)];
  const Part& now = next.parts[static_cast<std::size_t>(rank)];
  const std::int64_t ob = was.first_row, oe = ob + was.rows;
  const std::int64_t nb = now.first_row, ne = nb + now.rows;
  models::Dataset out = models::SliceRows(shard, 0, 0);  // empty, same storage kind
  if (nb < std::min(ne, ob))                             // rows gained before the kept ones
    models::AppendRows(
        out, ReadGain(o, now.begin, ne <= ob ? now.end : was.begin, num_features, classes));
  const std::int64_t kb = std::max(nb, ob), ke = std::min(ne, oe);
  if (kb < ke) models::AppendRows(out, models::SliceRows(shard, kb - ob, ke - ob));
  if (std::max(nb, oe) < ne)  // rows gained after them
    models::AppendRows(out,
                       ReadGain(o, nb >= oe ? now.begin : was.end, now.end, num_features, classes));
  if (out.rows() != now.rows)
    throw DataError("partition " + std::to_string(next.generation) + " gives rank " +
                        std::to_string(rank) + " " + std::to_string(now.rows) +
                        " rows, its source range holds " + std::to_string(out.rows()),
                    o.data, "the file changed while the job ran; restart it");
  out.first_row = nb;
  out.source_begin = now.begin;
  out.source_end = now.end;
  out.source_size = next.source_size;
  out.num_features = num_features;
  shard = std::move(out);
}

bool Balancer::Observe(std::span<const double> compute_s, std::span<const double> optimizer_s,
                       std::span<const std::int64_t> rows) {
  const std::size_t world = compute_s.size();
  const auto positive = [](double x) { return x > 0 ? x : 0.0; };  // NaN too
  const auto busy = [&](std::size_t r) {
    return positive(compute_s[r]) + (r < optimizer_s.size() ? positive(optimizer_s[r]) : 0.0);
  };
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  std::size_t slowest = 0;
  for (std::size_t r = 0; r < world; ++r) {
    if (rows[r] <= 0 || !(compute_s[r] > 0)) continue;
    lo = std::min(lo, busy(r));
    if (busy(r) > hi) hi = busy(r), slowest = r;
  }
  const bool uneven = hi >= kBalanceMinSeconds && hi > (1 + threshold_) * lo;
  if (!uneven) {
    over_ = 0;
    if (++even_ >= kBalanceEvenEpochs) needed_ = std::max(2, needed_ / 2), even_ = 0;
    return false;
  }
  even_ = 0;
  if (over_ == 0 || slowest != slowest_ || summed_compute_.size() != world) {
    over_ = 0;  // a new streak starts with this epoch
    slowest_ = slowest;
    summed_compute_.assign(world, 0.0);
    summed_optimizer_.assign(world, 0.0);
  }
  ++over_;
  for (std::size_t r = 0; r < world; ++r) {
    summed_compute_[r] += positive(compute_s[r]);
    summed_optimizer_[r] += r < optimizer_s.size() ? positive(optimizer_s[r]) : 0.0;
  }
  if (over_ < needed_) return false;
  // The streak's speeds and optimizer seconds; worth it only if the predicted slowest time
  // (per epoch) drops by more than half the threshold.
  rows_per_s_.assign(world, std::numeric_limits<double>::quiet_NaN());
  optimizer_s_.assign(world, 0.0);
  double now = 0;
  std::int64_t total = 0;
  for (std::size_t r = 0; r < world; ++r) {
    total += rows[r];
    optimizer_s_[r] = summed_optimizer_[r] / over_;
    if (rows[r] <= 0 || !(summed_compute_[r] > 0)) continue;
    rows_per_s_[r] = static_cast<double>(rows[r]) * over_ / summed_compute_[r];
    now = std::max(now, (summed_compute_[r] + summed_optimizer_[r]) / over_);
  }
  next_ = ProportionalRows(total, rows_per_s_, optimizer_s_);
  double predicted = 0;
  for (std::size_t r = 0; r < world; ++r)
    if (std::isfinite(rows_per_s_[r]) && next_[r] > 0)
      predicted =
          std::max(predicted, static_cast<double>(next_[r]) / rows_per_s_[r] + optimizer_s_[r]);
  if (!(predicted < now / (1 + threshold_ / 2))) return false;
  // A move that reverses the last one (its slowest rank gained rows then) doubles the run of
  // uneven epochs the next one waits for.
  if (slowest_ < gained_.size() && gained_[slowest_])
    needed_ = std::min(2 * needed_, kBalanceMaxStreak);
  gained_.assign(world, false);
  for (std::size_t r = 0; r < world; ++r) gained_[r] = next_[r] > rows[r];
  over_ = 0;
  return true;
}

}  // namespace ringtrain::train
