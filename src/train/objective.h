// train/objective.h — the function an optimizer minimises, and the decorator that makes
// any optimizer data-parallel.
//
//   F(w) = 0.5 |w|^2 + C * sum_i loss_i(w)          (liblinear's convention, DESIGN.md)
//
// With an L1 or elastic-net penalty the smooth part here carries only l2 * 0.5 |w|^2 (l2 = 0
// for l1, 1 - r for elastic); the l1 |w|_1 part is the optimizer's (OWL-QN, lbfgs.cc).
//
// LocalObjective gives only the data term of ONE shard: C * sum_{i in shard} loss_i and its
// gradient. DistributedObjective wraps it: it packs [data loss, gradient] into one buffer,
// runs ONE AllreduceSum, then adds 0.5|w|^2 and w once. Since every rank holds identical w
// and the allreduce returns identical bits, every rank sees the same F and grad F and takes
// bit-identical steps. Optimizers see only Function / StochasticFunction: never a rank.
//
// Mini-batches (sgd): the per-sample form F(w)/N = sum_i (0.5|w|^2/N + C loss_i)/N gives the
// unbiased estimate  g = w/N + (C/b) sum_{i in batch} grad loss_i  with b the GLOBAL batch
// count; the count rides in the same buffer, so ragged last batches and empty shards work.
// Speed (load balancing): the decorator times this rank's local work (gradient and Hessian
// sums, not the allreduce) and, within an epoch, the optimizer's own work between its calls
// (the time from one collective's return to the next call: the search direction, the vector
// updates of the line search or the CG steps — the same work on every rank whatever its
// rows, so a slower rank takes longer at it). It appends two slots per rank to the gradient
// buffers, so every rank learns every rank's cumulative compute and optimizer seconds with
// the gradient, at no extra round.
// Thread-safety: one thread per object (the rank's trainer thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "allreduce/communicator.h"
#include "common/huge_pages.h"
#include "models/dataset.h"
#include "models/linear_model.h"

namespace ringtrain::train {

// A function of w that full-batch optimizers minimise.
class Function {
 public:
  virtual ~Function() = default;
  virtual std::int64_t dim() const = 0;
  // Returns F(w) and writes grad F(w) into `grad` (overwritten; must not overlap w).
  virtual double ValueGradient(std::span<const double> w, std::span<double> grad) = 0;
  virtual bool has_hessian() const = 0;
  // out = H(w) v (generalised Hessian), overwritten (must not overlap w or v).
  virtual void HessianVector(std::span<const double> w, std::span<const double> v,
                             std::span<double> out) = 0;
  // out = diag(H(w)), overwritten: tron's diagonal preconditioner (about one pass).
  virtual void HessianDiagonal(std::span<const double> w, std::span<double> out) = 0;
};

// A mini-batch estimate of grad(F/N), for sgd.
class StochasticFunction {
 public:
  virtual ~StochasticFunction() = default;
  virtual std::int64_t dim() const = 0;
  // Rows this caller may draw from (local shard size).
  virtual std::int64_t local_rows() const = 0;
  // Writes the global mini-batch gradient estimate of F/N into `grad`; `rows` are indices
  // into the local shard (may be empty). Returns the global batch size b.
  virtual double BatchGradient(std::span<const double> w, std::span<const std::int64_t> rows,
                               std::span<double> grad) = 0;
};

// C * (data loss sum) over one shard, and its gradient / Hessian-vector product.
class LocalObjective {
 public:
  LocalObjective(const models::ModelSpec& spec, const models::Dataset& shard, double c)
      : spec_(spec), shard_(shard), c_(c) {}
  std::int64_t dim() const { return spec_.num_weights(); }
  std::int64_t rows() const { return shard_.rows(); }
  const models::ModelSpec& spec() const { return spec_; }
  // grad is overwritten. With `rows` non-empty, only those rows count.
  double DataValueGradient(std::span<const double> w, std::span<double> grad,
                           std::span<const std::int64_t> rows = {}) const;
  void DataHessianVector(std::span<const double> w, std::span<const double> v,
                         std::span<double> out) const;
  void DataHessianDiagonal(std::span<const double> w, std::span<double> out) const;

 private:
  const models::ModelSpec& spec_;
  const models::Dataset& shard_;
  double c_;
};

// The decorator. `global_rows` is N summed over ranks (for the per-sample sgd scaling).
class DistributedObjective final : public Function, public StochasticFunction {
 public:
  // `l2` scales the regulariser 0.5 |w|^2 (1 = liblinear's objective; models::Regularizer).
  DistributedObjective(const LocalObjective& local, allreduce::Communicator& comm,
                       std::int64_t global_rows, double l2 = 1.0);
  std::int64_t dim() const override { return local_.dim(); }
  std::int64_t local_rows() const override { return local_.rows(); }
  double ValueGradient(std::span<const double> w, std::span<double> grad) override;
  bool has_hessian() const override;
  void HessianVector(std::span<const double> w, std::span<const double> v,
                     std::span<double> out) override;
  void HessianDiagonal(std::span<const double> w, std::span<double> out) override;
  double BatchGradient(std::span<const double> w, std::span<const std::int64_t> rows,
                       std::span<double> grad) override;

  // Counters for progress lines: function evaluations and rows touched on this rank.
  std::int64_t evaluations() const { return evaluations_; }
  std::int64_t local_rows_touched() const { return rows_touched_; }
  // Every rank's cumulative compute seconds as of the last ValueGradient / BatchGradient
  // (the same bits on every rank), indexed by rank.
  const std::vector<double>& ranks_compute_seconds() const { return ranks_compute_s_; }
  // Every rank's cumulative optimizer seconds (the rank's own work between its calls within
  // an epoch), as of the same call.
  const std::vector<double>& ranks_optimizer_seconds() const { return ranks_optimizer_s_; }
  // The optimizer's work is timed between EpochStarts() and EpochEnds() (the trainer's
  // evaluation and bookkeeping between epochs are not the optimizer's).
  void EpochStarts();
  void EpochEnds();
  // Called after each local computation with its seconds and rows (a test hook that slows a
  // rank down: what it spends counts as compute). Once per call, never per row.
  void set_after_compute(std::function<void(double, std::int64_t)> hook) {
    after_compute_ = std::move(hook);
  }

 private:
  template <class F>
  void Timed(std::int64_t rows, F&& f);
  void PackSpeed(std::span<double> slots) const;
  void UnpackSpeed(std::span<const double> slots);
  void OptimizerPauses();   // a call starts: the optimizer's work since the last one ends
  void OptimizerResumes();  // a collective returned

  const LocalObjective& local_;
  allreduce::Communicator& comm_;
  double global_rows_;
  double l2_;
  // BatchGradient: [count, loss, grad..., compute seconds per rank, optimizer seconds per
  // rank], reused; in huge pages: the kernels scatter into it. (The full-batch calls sum in
  // the optimizer's vectors in place.)
  common::HugeVector<double> buffer_;
  // ValueGradient: [loss, compute seconds per rank, optimizer seconds per rank].
  std::vector<double> scalars_;
  double compute_s_ = 0;
  double optimizer_s_ = 0;
  bool in_epoch_ = false;
  std::chrono::steady_clock::time_point optimizer_since_;  // when in_epoch_
  std::vector<double> ranks_compute_s_;
  std::vector<double> ranks_optimizer_s_;
  std::function<void(double, std::int64_t)> after_compute_;
  std::int64_t evaluations_ = 0;
  std::int64_t rows_touched_ = 0;
};

}  // namespace ringtrain::train
