// train/optimizer.h — optimizers over a Function (full batch) or StochasticFunction (sgd).
//
// An optimizer knows a function and nothing else: no rank, no communicator, no data. Every
// rank runs the same optimizer on the same (allreduced) values, so every rank takes
// bit-identical steps. One RunEpoch is one outer iteration (lbfgs: one direction + line
// search; tron: one trust-region Newton step) or one pass over the shard (sgd).
//
// Checkpoint hook (issue 5): SaveState() returns the whole optimizer state as doubles
// (bit-exact round trip); RestoreState() on a fresh optimizer built with the same options
// continues exactly where the saved one was. The model weights are not part of the state.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "train/objective.h"

namespace ringtrain::train {

struct EpochReport {
  double objective = 0;          // F(w) after the epoch (NaN if the optimizer does not know it)
  double grad_norm = 0;          // |grad F| after the epoch (NaN if unknown)
  bool converged = false;        // the stopping rule holds; the trainer stops
  std::int64_t evaluations = 0;  // function evaluations this epoch (each about one data pass)
  std::int64_t hessian_products = 0;  // of which Hessian-vector products (tron's CG steps)
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // `epoch` counts from 1. Updates w in place.
  virtual EpochReport RunEpoch(std::span<double> w, std::int64_t epoch) = 0;
  virtual std::vector<double> SaveState() const = 0;
  virtual void RestoreState(std::span<const double> state) = 0;
  // The doubles held in the optimizer's own vectors (the memory bound of the run header:
  // issue 11 item 4 — tron 9 x dim, lbfgs (4 + 2 x memory) x dim, sgd 2 x dim).
  virtual std::size_t HeldDoubles() const = 0;
};

struct LbfgsOptions {
  int memory = 10;
  double tol = 0.01;  // |g| <= tol * |g0| (g0 the gradient at the first point seen) and the
                      // predicted objective gap -0.5 g.d <= 1e-5 |f| (lbfgs.cc)
  double c1 = 1e-4;   // sufficient decrease
  double c2 = 0.9;    // curvature (strong Wolfe)
  int max_line_search = 30;
  // > 0: minimise F(w) + l1 |w|_1 by OWL-QN (Andrew & Gao 2007): the same two-loop direction
  // on the pseudo-gradient, kept in the orthant of w, and a backtracking line search that
  // projects onto that orthant, so weights reach exactly zero. The stopping rule reads the
  // pseudo-gradient where the smooth rule reads the gradient.
  double l1 = 0;
  // > 0: the |g0| of the stopping rule (a warm start passes |grad F(0)|, so the rule is the
  // one of a cold start); 0: the gradient at the first point seen.
  double g0_norm = 0;
};
// Full-batch limited-memory BFGS with a strong-Wolfe line search (bracketing + cubic zoom,
// Nocedal & Wright alg. 3.5/3.6); OWL-QN when options.l1 > 0.
std::unique_ptr<Optimizer> MakeLbfgs(Function& f, const LbfgsOptions& options);

struct TronOptions {
  double tol = 0.01;    // |g| <= tol * |g0|, g0 the gradient at the first point seen
  double eps_cg = 0.1;  // CG stops when |r| <= eps_cg * |g| (liblinear's eps_cg)
  int max_cg = 0;       // CG steps per outer iteration at most (0 = dim)
  // liblinear 2.3's diagonal preconditioner M = 0.99 I + 0.01 diag(H) (one more pass and
  // allreduce per accepted step); false = identity (kept so tests can compare the two).
  bool precondition = true;
  double g0_norm = 0;  // as LbfgsOptions::g0_norm
};
// Full-batch trust-region Newton (liblinear's TRON): Steihaug preconditioned CG on
// Hessian-vector products (one Function::HessianVector, so one allreduce, per CG step).
// Needs f.has_hessian() (UsageError otherwise). State: f, |g0|, trust radius, g (the
// preconditioner is a function of w, recomputed after a restore).
std::unique_ptr<Optimizer> MakeTron(Function& f, const TronOptions& options);

struct SgdOptions {
  std::int64_t batch_size = 256;     // local rows per step
  std::int64_t steps_per_epoch = 1;  // same on every rank: ceil(max local rows / batch)
  double lr = 0.1;
  double lr_decay = 0.0;  // lr_t = lr / (1 + lr_decay * t), t = step count
  double momentum = 0.9;
  std::uint64_t seed = 1;    // with the epoch and `stream`, seeds the per-epoch shuffle
  std::uint64_t stream = 0;  // the caller's stream id (the rank), so shards shuffle apart
};
// Mini-batch SGD with heavy-ball momentum: v = m v - lr_t g; w += v.
std::unique_ptr<Optimizer> MakeSgd(StochasticFunction& f, const SgdOptions& options);

// The permutation of [0, n) for one epoch: Fisher-Yates driven by splitmix64 of
// (seed, epoch, stream), identical on every platform.
std::vector<std::int64_t> EpochPermutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch,
                                           std::uint64_t stream);

}  // namespace ringtrain::train
