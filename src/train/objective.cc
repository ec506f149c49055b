// train/objective.cc — LocalObjective and the DistributedObjective decorator.
#include "train/objective.h"

#include <algorithm>
#include <chrono>

namespace ringtrain::train {

double LocalObjective::DataValueGradient(std::span<const double> w, std::span<double> grad,
                                         std::span<const std::int64_t> rows) const {
  std::fill(grad.begin(), grad.end(), 0.0);
  double loss = 0.0;
  // An empty `rows` means "all rows" to the kernel; an empty shard has nothing to add.
  if (shard_.rows() > 0) loss = models::LossGradientSum(spec_, shard_, w, grad, rows);
  for (double& g : grad) g *= c_;
  return c_ * loss;
}

void LocalObjective::DataHessianVector(std::span<const double> w, std::span<const double> v,
                                       std::span<double> out) const {
  std::fill(out.begin(), out.end(), 0.0);
  if (shard_.rows() > 0) models::HessianVectorSum(spec_, shard_, w, v, out);
  for (double& o : out) o *= c_;
}

void LocalObjective::DataHessianDiagonal(std::span<const double> w, std::span<double> out) const {
  std::fill(out.begin(), out.end(), 0.0);
  if (shard_.rows() > 0) models::HessianDiagonalSum(spec_, shard_, w, out);
  for (double& o : out) o *= c_;
}

DistributedObjective::DistributedObjective(const LocalObjective& local,
                                           allreduce::Communicator& comm, std::int64_t global_rows,
                                           double l2)
    : local_(local),
      comm_(comm),
      global_rows_(static_cast<double>(global_rows)),
      l2_(l2),
      ranks_compute_s_(static_cast<std::size_t>(comm.world_size()), 0.0),
      ranks_optimizer_s_(static_cast<std::size_t>(comm.world_size()), 0.0) {}

void DistributedObjective::EpochStarts() {
  in_epoch_ = true;
  optimizer_since_ = std::chrono::steady_clock::now();
}

void DistributedObjective::EpochEnds() {
  OptimizerPauses();
  in_epoch_ = false;
}

void DistributedObjective::OptimizerPauses() {
  if (!in_epoch_) return;
  const auto now = std::chrono::steady_clock::now();
  optimizer_s_ += std::chrono::duration<double>(now - optimizer_since_).count();
  optimizer_since_ = now;
}

void DistributedObjective::OptimizerResumes() {
  if (in_epoch_) optimizer_since_ = std::chrono::steady_clock::now();
}

template <class F>
void DistributedObjective::Timed(std::int64_t rows, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (after_compute_) {
    after_compute_(s, rows);
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  compute_s_ += s;
}

// Slot r of the rank-wide tail holds rank r's compute seconds, slot world + r its optimizer
// seconds; the others add zeros (x + 0 == x).
void DistributedObjective::PackSpeed(std::span<double> slots) const {
  const std::size_t world = ranks_compute_s_.size(), rank = static_cast<std::size_t>(comm_.rank());
  std::fill(slots.begin(), slots.end(), 0.0);
  slots[rank] = compute_s_;
  slots[world + rank] = optimizer_s_;
}

void DistributedObjective::UnpackSpeed(std::span<const double> slots) {
  const std::size_t world = ranks_compute_s_.size();
  ranks_compute_s_.assign(slots.begin(), slots.begin() + static_cast<std::ptrdiff_t>(world));
  ranks_optimizer_s_.assign(slots.begin() + static_cast<std::ptrdiff_t>(world), slots.end());
}

// The full-batch calls sum into the optimizer's own vector in place (no feature-sized buffer
// of their own: at 2^24 features that was 128 MiB per rank held for the run); the gradient's
// loss and the ranks' speeds follow in a second, small allreduce.
double DistributedObjective::ValueGradient(std::span<const double> w, std::span<double> grad) {
  const std::size_t n = grad.size(), world = ranks_compute_s_.size();
  OptimizerPauses();
  double loss = 0.0;
  Timed(local_.rows(), [&] { loss = local_.DataValueGradient(w, grad); });
  comm_.AllreduceSum(grad);
  scalars_.assign(1 + 2 * world, 0.0);
  scalars_[0] = loss;
  PackSpeed(std::span<double>(scalars_.data() + 1, 2 * world));
  comm_.AllreduceSum(std::span<double>(scalars_));
  OptimizerResumes();
  UnpackSpeed(std::span<const double>(scalars_.data() + 1, 2 * world));
  // The regulariser is added once, after the sum, identically on every rank.
  double sq = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    grad[j] += l2_ * w[j];
    sq += w[j] * w[j];
  }
  ++evaluations_;
  rows_touched_ += local_.rows();
  return scalars_[0] + 0.5 * l2_ * sq;
}

bool DistributedObjective::has_hessian() const {
  return models::Info(local_.spec().loss).has_hessian;
}

void DistributedObjective::HessianVector(std::span<const double> w, std::span<const double> v,
                                         std::span<double> out) {
  const std::size_t n = out.size();
  OptimizerPauses();
  Timed(local_.rows(), [&] { local_.DataHessianVector(w, v, out); });
  comm_.AllreduceSum(out);
  OptimizerResumes();
  for (std::size_t j = 0; j < n; ++j) out[j] += l2_ * v[j];
  rows_touched_ += local_.rows();
}

void DistributedObjective::HessianDiagonal(std::span<const double> w, std::span<double> out) {
  OptimizerPauses();
  Timed(local_.rows(), [&] { local_.DataHessianDiagonal(w, out); });
  comm_.AllreduceSum(out);
  OptimizerResumes();
  for (double& o : out) o += l2_;  // the regulariser's l2 I
  rows_touched_ += local_.rows();
}

double DistributedObjective::BatchGradient(std::span<const double> w,
                                           std::span<const std::int64_t> rows,
                                           std::span<double> grad) {
  const std::size_t n = grad.size(), world = ranks_compute_s_.size();
  OptimizerPauses();
  buffer_.resize(n + 2 + 2 * world);
  std::span<double> local_grad(buffer_.data() + 2, n);
  if (rows.empty()) {
    std::fill(local_grad.begin(), local_grad.end(), 0.0);
    buffer_[1] = 0.0;
  } else {
    Timed(static_cast<std::int64_t>(rows.size()),
          [&] { buffer_[1] = local_.DataValueGradient(w, local_grad, rows); });
  }
  buffer_[0] = static_cast<double>(rows.size());
  PackSpeed(std::span<double>(buffer_.data() + 2 + n, 2 * world));
  comm_.AllreduceSum(std::span<double>(buffer_));
  OptimizerResumes();
  UnpackSpeed(std::span<const double>(buffer_.data() + 2 + n, 2 * world));
  const double b = buffer_[0];
  const double inv_b = b > 0 ? 1.0 / b : 0.0;
  const double inv_n = global_rows_ > 0 ? 1.0 / global_rows_ : 0.0;
  for (std::size_t j = 0; j < n; ++j) grad[j] = buffer_[j + 2] * inv_b + l2_ * w[j] * inv_n;
  rows_touched_ += static_cast<std::int64_t>(rows.size());
  return b;
}

}  // namespace ringtrain::train
