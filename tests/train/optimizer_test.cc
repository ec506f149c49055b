// Optimizers on small known problems, DistributedObjective against a direct computation,
// exact state round trips (the checkpoint hook), and the sgd shuffle.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "allreduce/communicator.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "train/objective.h"

namespace ringtrain::train {
namespace {

// f(x) = sum_i a_i (x_i - 1)^2 / 2 + 0.1 * (sum x)^4 style: a smooth, ill-conditioned bowl.
class Bowl final : public Function {
 public:
  explicit Bowl(int n) : n_(n) {}
  std::int64_t dim() const override { return n_; }
  double ValueGradient(std::span<const double> x, std::span<double> g) override {
    double f = 0, s = 0;
    for (int i = 0; i < n_; ++i) s += x[static_cast<std::size_t>(i)];
    for (int i = 0; i < n_; ++i) {
      auto k = static_cast<std::size_t>(i);
      double a = 1.0 + 100.0 * i / n_;
      f += 0.5 * a * (x[k] - 1) * (x[k] - 1);
      g[k] = a * (x[k] - 1) + 0.4 * s * s * s;
    }
    ++evaluations;
    return f + 0.1 * s * s * s * s;
  }
  bool has_hessian() const override { return false; }
  void HessianVector(std::span<const double>, std::span<const double>, std::span<double>) override {
  }
  void HessianDiagonal(std::span<const double>, std::span<double>) override {}
  int evaluations = 0;

 private:
  int n_;
};

double Norm(const std::vector<double>& v) {
  return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
}

TEST(Lbfgs, ReachesTheMinimumOfASmoothBowl) {
  Bowl f(20);
  LbfgsOptions o;
  o.tol = 1e-8;
  auto opt = MakeLbfgs(f, o);
  std::vector<double> w(20, 0.0), g(20);
  const double g0 = (f.ValueGradient(w, g), Norm(g));
  bool converged = false;
  for (int e = 1; e <= 500 && !converged; ++e) converged = opt->RunEpoch(w, e).converged;
  EXPECT_TRUE(converged);
  f.ValueGradient(w, g);
  EXPECT_LE(Norm(g), 1e-8 * g0 * 1.0000001);
}

TEST(Lbfgs, ObjectiveNeverIncreases) {
  Bowl f(10);
  auto opt = MakeLbfgs(f, LbfgsOptions{});
  std::vector<double> w(10, 3.0);
  double prev = INFINITY;
  for (int e = 1; e <= 30; ++e) {
    auto r = opt->RunEpoch(w, e);
    EXPECT_LE(r.objective, prev);
    prev = r.objective;
    if (r.converged) break;
  }
}

TEST(Lbfgs, SavedStateContinuesBitIdentically) {
  Bowl f(12);
  LbfgsOptions o;
  o.tol = 1e-12;
  o.memory = 4;
  auto a = MakeLbfgs(f, o);
  std::vector<double> wa(12, 0.0);
  for (int e = 1; e <= 5; ++e) a->RunEpoch(wa, e);
  auto saved = a->SaveState();
  std::vector<double> wb = wa;
  auto b = MakeLbfgs(f, o);
  b->RestoreState(saved);
  for (int e = 6; e <= 12; ++e) {
    auto ra = a->RunEpoch(wa, e);
    auto rb = b->RunEpoch(wb, e);
    EXPECT_EQ(ra.objective, rb.objective);
  }
  EXPECT_EQ(wa, wb);
}

// A loose tol meets the gradient rule long before the gap rule, so the direction the stopping
// rule computes at the end of an epoch is the one the next epoch steps along (computed once,
// lbfgs.cc: direction_ready_). A copy restored at each such epoch has to compute it afresh; it
// must step exactly as the run that kept it, with and without the L1 term (OWL-QN).
TEST(Lbfgs, RestoredWhereOnlyTheGapRuleHoldsContinuesBitIdentically) {
  for (const double l1 : {0.0, 0.5}) {
    Bowl f(16);
    LbfgsOptions o;
    o.tol = 0.5;
    o.memory = 5;
    o.l1 = l1;
    auto a = MakeLbfgs(f, o);
    std::vector<double> wa(16, 0.0);
    double g0 = -1;
    int gap_epochs = 0;
    bool converged = false;
    for (int e = 1; e <= 200 && !converged; ++e) {
      const auto saved = a->SaveState();
      std::vector<double> wb = wa;
      auto b = MakeLbfgs(f, o);
      b->RestoreState(saved);
      const auto ra = a->RunEpoch(wa, e);
      const auto rb = b->RunEpoch(wb, e);
      ASSERT_EQ(ra.objective, rb.objective) << "l1 " << l1 << ", epoch " << e;
      ASSERT_EQ(wa, wb) << "l1 " << l1 << ", epoch " << e;
      if (g0 < 0) g0 = ra.grad_norm;  // (after the first step: a lower bar, still loose)
      if (!ra.converged && ra.grad_norm <= o.tol * g0) ++gap_epochs;
      converged = ra.converged;
    }
    EXPECT_TRUE(converged) << "l1 " << l1;
    EXPECT_GE(gap_epochs, 2) << "l1 " << l1 << ": no epochs under the gradient rule alone";
  }
}

// A least-squares problem as a StochasticFunction: F(w) = 0.5 sum_i (w - t_i)^2 over rows.
class MeanFinder final : public StochasticFunction {
 public:
  explicit MeanFinder(std::vector<double> t) : t_(std::move(t)) {}
  std::int64_t dim() const override { return 1; }
  std::int64_t local_rows() const override { return static_cast<std::int64_t>(t_.size()); }
  double BatchGradient(std::span<const double> w, std::span<const std::int64_t> rows,
                       std::span<double> grad) override {
    double g = 0;
    for (auto r : rows) g += w[0] - t_[static_cast<std::size_t>(r)];
    grad[0] = rows.empty() ? 0 : g / static_cast<double>(rows.size());
    return static_cast<double>(rows.size());
  }

 private:
  std::vector<double> t_;
};

TEST(Sgd, ConvergesToTheMeanWithDecayingSteps) {
  std::vector<double> t;
  for (int i = 0; i < 100; ++i) t.push_back(i % 7);
  const double mean = std::accumulate(t.begin(), t.end(), 0.0) / 100.0;
  MeanFinder f(t);
  SgdOptions o;
  o.batch_size = 10;
  o.steps_per_epoch = 10;
  o.lr = 0.5;
  o.lr_decay = 0.05;
  o.momentum = 0.5;
  auto opt = MakeSgd(f, o);
  std::vector<double> w = {100.0};
  for (int e = 1; e <= 50; ++e) opt->RunEpoch(w, e);
  EXPECT_NEAR(w[0], mean, 0.05);
}

TEST(Sgd, SavedStateContinuesBitIdentically) {
  std::vector<double> t = {1, 5, 2, 8, 3, 3, 9, 0};
  MeanFinder f(t);
  SgdOptions o;
  o.batch_size = 3;
  o.steps_per_epoch = 3;
  o.seed = 7;
  auto a = MakeSgd(f, o);
  std::vector<double> wa = {0.0};
  for (int e = 1; e <= 3; ++e) a->RunEpoch(wa, e);
  auto b = MakeSgd(f, o);
  b->RestoreState(a->SaveState());
  std::vector<double> wb = wa;
  for (int e = 4; e <= 9; ++e) {
    a->RunEpoch(wa, e);
    b->RunEpoch(wb, e);
  }
  EXPECT_EQ(wa, wb);
}

TEST(EpochPermutation, IsAPermutationDeterministicAndDiffersByEpochAndStream) {
  auto p = EpochPermutation(1000, 42, 3, 1);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(p, EpochPermutation(1000, 42, 3, 1));
  EXPECT_NE(p, EpochPermutation(1000, 42, 4, 1));
  EXPECT_NE(p, EpochPermutation(1000, 42, 3, 2));
  EXPECT_NE(p, EpochPermutation(1000, 43, 3, 1));
  EXPECT_TRUE(EpochPermutation(0, 1, 1, 0).empty());
}

models::Dataset TinyData() {
  models::Dataset d;
  // 4 rows, 3 features, CSR.
  d.row_ptr = {0, 2, 3, 5, 6};
  d.col = {0, 2, 1, 0, 1, 2};
  d.val = {1.0f, -2.0f, 0.5f, 3.0f, 1.0f, -1.0f};
  d.labels = {1, -1, 1, -1};
  d.num_features = 3;
  models::AssignClasses(d, std::vector<double>{-1, 1});
  return d;
}

TEST(DistributedObjective, AddsTheRegulariserOnceToCTimesTheDataTerm) {
  auto data = TinyData();
  models::ModelSpec spec;
  spec.classes = {-1, 1};
  spec.num_features = 3;
  spec.bias = true;
  const double c = 2.5;
  LocalObjective local(spec, data, c);
  allreduce::SelfCommunicator comm;
  DistributedObjective f(local, comm, data.rows());
  std::vector<double> w = {0.3, -0.2, 0.1, 0.05}, g(4), gd(4, 0.0);
  double value = f.ValueGradient(w, g);
  double loss = models::LossGradientSum(spec, data, w, gd);
  double sq = 0;
  for (double x : w) sq += x * x;
  EXPECT_DOUBLE_EQ(value, 0.5 * sq + c * loss);
  for (std::size_t j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(g[j], c * gd[j] + w[j]);
  // Finite differences on the assembled objective.
  for (std::size_t j = 0; j < 4; ++j) {
    auto wp = w, wm = w;
    wp[j] += 1e-6;
    wm[j] -= 1e-6;
    std::vector<double> tmp(4);
    double fd = (f.ValueGradient(wp, tmp) - f.ValueGradient(wm, tmp)) / 2e-6;
    EXPECT_NEAR(fd, g[j], 1e-6 * (1 + std::fabs(g[j])));
  }
}

TEST(DistributedObjective, BatchGradientIsThePerSampleEstimate) {
  auto data = TinyData();
  models::ModelSpec spec;
  spec.classes = {-1, 1};
  spec.num_features = 3;
  const double c = 1.5;
  LocalObjective local(spec, data, c);
  allreduce::SelfCommunicator comm;
  DistributedObjective f(local, comm, data.rows());
  std::vector<double> w = {0.3, -0.2, 0.1}, g(3), full(3);
  std::vector<std::int64_t> all = {0, 1, 2, 3};
  EXPECT_EQ(f.BatchGradient(w, all, g), 4.0);
  f.ValueGradient(w, full);  // grad F = w + C sum grad loss; per-sample: grad F / N
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(g[j], full[j] / 4.0, 1e-12);
  std::vector<std::int64_t> none;
  EXPECT_EQ(f.BatchGradient(w, none, g), 0.0);
}

}  // namespace
}  // namespace ringtrain::train
