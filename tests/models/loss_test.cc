// tests/models/loss_test.cc — the data-term math: gradients against central finite
// differences for every loss (binary, OVR, softmax; CSR and dense; with and without bias),
// Hessian-vector products against finite differences of the gradient, logistic at
// |z| ~ 1e3, mini-batch row subsets, CSR == dense, determinism, predictions and metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "models/dataset.h"
#include "models/linear_model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ringtrain::models {
namespace {

// A random shard with `rows` rows, `nf` features (about half zero), classes 0..k-1.
// The CSR and dense copies hold the same numbers.
struct Pair {
  Dataset csr, dense;
};

Pair RandomData(std::int64_t rows, std::int64_t nf, int k, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  Pair p;
  p.csr.row_ptr.push_back(0);
  p.dense.dense_cols = nf;
  for (std::int64_t r = 0; r < rows; ++r) {
    const double label = static_cast<double>(gen() % static_cast<unsigned>(k)) * 2 - 1;
    p.csr.labels.push_back(label);
    p.dense.labels.push_back(label);
    for (std::int64_t j = 0; j < nf; ++j) {
      float v = u(gen) < 0 ? 0.0f : static_cast<float>(u(gen));
      p.dense.dense.push_back(v);
      if (v != 0.0f) {
        p.csr.col.push_back(static_cast<std::int32_t>(j));
        p.csr.val.push_back(v);
      }
    }
    p.csr.row_ptr.push_back(static_cast<std::int64_t>(p.csr.col.size()));
  }
  p.csr.num_features = p.dense.num_features = nf;
  std::vector<double> classes;
  for (int c = 0; c < k; ++c) classes.push_back(c * 2 - 1);
  AssignClasses(p.csr, classes);
  AssignClasses(p.dense, classes);
  return p;
}

ModelSpec Spec(Loss loss, Multiclass mc, int k, std::int64_t nf, bool bias) {
  ModelSpec s;
  s.loss = loss;
  s.multiclass = mc;
  for (int c = 0; c < k; ++c) s.classes.push_back(c * 2 - 1);
  s.num_features = nf;
  s.bias = bias;
  s.bias_value = bias ? 0.7 : 1.0;
  return s;
}

std::vector<double> RandomWeights(const ModelSpec& s, std::uint32_t seed, double scale = 1.0) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n(0, scale);
  std::vector<double> w(static_cast<std::size_t>(s.num_weights()));
  for (double& x : w) x = n(gen);
  return w;
}

double Loss0(const ModelSpec& s, const Dataset& d, const std::vector<double>& w) {
  return LossGradientSum(s, d, w, {});
}

struct Case {
  Loss loss;
  Multiclass mc;
  int k;
};

const std::vector<Case> kCases = {
    {Loss::kLogistic, Multiclass::kOvr, 2},
    {Loss::kLogistic, Multiclass::kOvr, 3},
    {Loss::kLogistic, Multiclass::kMultinomial, 3},
    {Loss::kLogistic, Multiclass::kMultinomial, 2},
    {Loss::kHinge, Multiclass::kOvr, 2},
    {Loss::kHinge, Multiclass::kOvr, 4},
    {Loss::kSquaredHinge, Multiclass::kOvr, 2},
    {Loss::kSquaredHinge, Multiclass::kOvr, 3},
};

TEST(Gradient, MatchesFiniteDifferences) {
  for (const Case& c : kCases) {
    for (bool bias : {false, true}) {
      for (bool dense : {false, true}) {
        SCOPED_TRACE(ToString(c.loss) + " " + ToString(c.mc) + " k=" + std::to_string(c.k) +
                     (bias ? " bias" : "") + (dense ? " dense" : " csr"));
        const Pair p = RandomData(40, 7, c.k, 11);
        const Dataset& d = dense ? p.dense : p.csr;
        const ModelSpec s = Spec(c.loss, c.mc, c.k, 7, bias);
        std::vector<double> w = RandomWeights(s, 5, 0.5);
        std::vector<double> g(w.size(), 0.0);
        const double f = LossGradientSum(s, d, w, g);
        EXPECT_NEAR(f, Loss0(s, d, w), 1e-12 * std::fabs(f));
        const double h = 1e-6;
        for (std::size_t j = 0; j < w.size(); ++j) {
          std::vector<double> wp = w, wm = w;
          wp[j] += h;
          wm[j] -= h;
          const double fd = (Loss0(s, d, wp) - Loss0(s, d, wm)) / (2 * h);
          EXPECT_NEAR(g[j], fd, 1e-5 * std::max(1.0, std::fabs(fd))) << "weight " << j;
        }
      }
    }
  }
}

TEST(Gradient, AddsIntoGradAndCsrEqualsDense) {
  const Pair p = RandomData(300, 9, 3, 2);
  const ModelSpec s = Spec(Loss::kLogistic, Multiclass::kOvr, 3, 9, true);
  const std::vector<double> w = RandomWeights(s, 3);
  std::vector<double> g1(w.size(), 1.0), g2(w.size(), 0.0);
  const double f1 = LossGradientSum(s, p.csr, w, g1);
  const double f2 = LossGradientSum(s, p.dense, w, g2);
  EXPECT_NEAR(f1, f2, 1e-10 * f1);
  for (std::size_t j = 0; j < w.size(); ++j) EXPECT_NEAR(g1[j] - 1.0, g2[j], 1e-9);
}

TEST(Gradient, RowSubsetEqualsSubsetDataset) {
  const Pair p = RandomData(50, 5, 2, 9);
  const ModelSpec s = Spec(Loss::kSquaredHinge, Multiclass::kOvr, 2, 5, false);
  const std::vector<double> w = RandomWeights(s, 4);
  const std::vector<std::int64_t> rows = {3, 17, 17, 42, 0};
  std::vector<double> g(w.size(), 0.0), expect(w.size(), 0.0);
  const double f = LossGradientSum(s, p.dense, w, g, rows);
  double expect_f = 0;
  for (std::int64_t r : rows) {
    const std::vector<std::int64_t> one = {r};
    expect_f += LossGradientSum(s, p.dense, w, expect, one);
  }
  EXPECT_NEAR(f, expect_f, 1e-12 * std::fabs(f));
  for (std::size_t j = 0; j < w.size(); ++j) EXPECT_NEAR(g[j], expect[j], 1e-12);
  const std::vector<std::int64_t> bad = {50};
  EXPECT_THROW(LossGradientSum(s, p.dense, w, g, bad), UsageError);
}

TEST(Gradient, LogisticAtLargeMarginsIsFiniteAndExact) {
  // One feature, x = 1; z = y*w = +-1000.
  Dataset d;
  d.labels = {1, -1};
  d.dense = {1.0f, 1.0f};
  d.dense_cols = d.num_features = 1;
  const std::vector<double> classes = {-1, 1};
  AssignClasses(d, classes);
  ModelSpec s = Spec(Loss::kLogistic, Multiclass::kOvr, 2, 1, false);
  for (double w0 : {1000.0, -1000.0, 1e5}) {
    std::vector<double> w = {w0}, g = {0.0};
    const double f = LossGradientSum(s, d, w, g);
    // Row 1 (y=+1): z = w0; row 2 (y=-1): z = -w0. One term is ~0, the other ~|w0|.
    EXPECT_TRUE(std::isfinite(f));
    EXPECT_EQ(f, std::fabs(w0));
    // d/dw [log(1+e^{-w}) + log(1+e^{w})] = -1/(1+e^w) + 1/(1+e^{-w}) = +-1.
    EXPECT_EQ(g[0], w0 > 0 ? 1.0 : -1.0);
  }
  // Softmax with huge scores.
  ModelSpec m = Spec(Loss::kLogistic, Multiclass::kMultinomial, 3, 1, false);
  Dataset d3;
  d3.labels = {1, 3};
  d3.dense = {1.0f, 1.0f};
  d3.dense_cols = d3.num_features = 1;
  const std::vector<double> c3 = {-1, 1, 3};
  AssignClasses(d3, c3);
  std::vector<double> w = {0, 1000, -1000}, g(3, 0.0);
  const double f = LossGradientSum(m, d3, w, g);
  EXPECT_EQ(f, 2000.0);  // row 1 loss 0, row 2 loss 1000 - (-1000)
  EXPECT_EQ(g, (std::vector<double>{0.0, 1.0, -1.0}));
}

TEST(Hessian, MatchesFiniteDifferencesOfGradient) {
  const std::vector<Case> cases = {{Loss::kLogistic, Multiclass::kOvr, 2},
                                   {Loss::kLogistic, Multiclass::kOvr, 3},
                                   {Loss::kLogistic, Multiclass::kMultinomial, 3},
                                   {Loss::kSquaredHinge, Multiclass::kOvr, 2},
                                   {Loss::kSquaredHinge, Multiclass::kOvr, 3}};
  for (const Case& c : cases) {
    for (bool dense : {false, true}) {
      SCOPED_TRACE(ToString(c.loss) + " " + ToString(c.mc) + " k=" + std::to_string(c.k));
      const Pair p = RandomData(60, 6, c.k, 21);
      const Dataset& d = dense ? p.dense : p.csr;
      const ModelSpec s = Spec(c.loss, c.mc, c.k, 6, true);
      const std::vector<double> w = RandomWeights(s, 8, 0.5);
      const std::vector<double> v = RandomWeights(s, 9);
      std::vector<double> hv(w.size(), 0.0);
      HessianVectorSum(s, d, w, v, hv);
      const double h = 1e-6;
      std::vector<double> wp = w, wm = w, gp(w.size(), 0.0), gm(w.size(), 0.0);
      for (std::size_t j = 0; j < w.size(); ++j) {
        wp[j] += h * v[j];
        wm[j] -= h * v[j];
      }
      LossGradientSum(s, d, wp, gp);
      LossGradientSum(s, d, wm, gm);
      for (std::size_t j = 0; j < w.size(); ++j) {
        const double fd = (gp[j] - gm[j]) / (2 * h);
        EXPECT_NEAR(hv[j], fd, 1e-4 * std::max(1.0, std::fabs(fd))) << j;
      }
    }
  }
  const Pair p = RandomData(5, 2, 2, 1);
  const ModelSpec hinge = Spec(Loss::kHinge, Multiclass::kOvr, 2, 2, false);
  std::vector<double> w(2, 0.0), out(2, 0.0);
  EXPECT_THROW(HessianVectorSum(hinge, p.csr, w, w, out), UsageError);
}

// ---- Regression losses: raw real targets, one output ----

// Real targets in [-2, 2]; the features of RandomData. No AssignClasses: targets are labels.
Pair RegressionData(std::int64_t rows, std::int64_t nf, std::uint32_t seed) {
  Pair p = RandomData(rows, nf, 2, seed);
  std::mt19937 gen(seed + 1);
  std::uniform_real_distribution<double> u(-2, 2);
  for (std::size_t r = 0; r < p.csr.labels.size(); ++r)
    p.csr.labels[r] = p.dense.labels[r] = u(gen);
  p.csr.class_index.clear();
  p.dense.class_index.clear();
  return p;
}

ModelSpec RegressionSpec(Loss loss, std::int64_t nf, bool bias) {
  ModelSpec s;
  s.loss = loss;
  s.num_features = nf;
  s.bias = bias;
  s.bias_value = bias ? 0.7 : 1.0;
  s.epsilon = 0.3;
  return s;
}

// The losses written out from their definitions, independent of losses.h.
double ReferenceLoss(Loss loss, double d, double e) {
  const double a = std::fabs(d);
  switch (loss) {
    case Loss::kSquaredEpsilonInsensitive:
      return a > e ? (a - e) * (a - e) : 0.0;
    case Loss::kEpsilonInsensitive:
      return a > e ? a - e : 0.0;
    case Loss::kSquared:
      return d * d;
    default:
      return std::nan("");
  }
}

TEST(Regression, ValueGradientAndHessianMatchDefinitionsAndFiniteDifferences) {
  for (Loss loss : {Loss::kSquaredEpsilonInsensitive, Loss::kEpsilonInsensitive, Loss::kSquared}) {
    for (bool bias : {false, true}) {
      for (bool dense : {false, true}) {
        SCOPED_TRACE(ToString(loss) + (bias ? " bias" : "") + (dense ? " dense" : " csr"));
        const Pair p = RegressionData(300, 7, 31);
        const Dataset& d = dense ? p.dense : p.csr;
        const ModelSpec s = RegressionSpec(loss, 7, bias);
        EXPECT_EQ(s.num_outputs(), 1);
        const std::vector<double> w = RandomWeights(s, 5, 0.5);
        // Value: the definition over the predictions.
        LinearModel m{s, w};
        const std::vector<double> pred = PredictLabels(m, d);
        double want = 0;
        for (std::size_t r = 0; r < pred.size(); ++r)
          want += ReferenceLoss(loss, pred[r] - d.labels[r], s.epsilon);
        std::vector<double> g(w.size(), 0.0);
        const double f = LossGradientSum(s, d, w, g);
        EXPECT_NEAR(f, want, 1e-12 * std::max(1.0, want));
        const double h = 1e-6;
        for (std::size_t j = 0; j < w.size(); ++j) {
          std::vector<double> wp = w, wm = w;
          wp[j] += h;
          wm[j] -= h;
          const double fd = (Loss0(s, d, wp) - Loss0(s, d, wm)) / (2 * h);
          EXPECT_NEAR(g[j], fd, 1e-5 * std::max(1.0, std::fabs(fd))) << "weight " << j;
        }
        const std::vector<double> v = RandomWeights(s, 9);
        std::vector<double> hv(w.size(), 0.0);
        if (!Info(loss).has_hessian) {
          EXPECT_THROW(HessianVectorSum(s, d, w, v, hv), UsageError);
          continue;
        }
        HessianVectorSum(s, d, w, v, hv);
        std::vector<double> wp = w, wm = w, gp(w.size(), 0.0), gm(w.size(), 0.0);
        for (std::size_t j = 0; j < w.size(); ++j) {
          wp[j] += h * v[j];
          wm[j] -= h * v[j];
        }
        LossGradientSum(s, d, wp, gp);
        LossGradientSum(s, d, wm, gm);
        for (std::size_t j = 0; j < w.size(); ++j) {
          const double fd = (gp[j] - gm[j]) / (2 * h);
          EXPECT_NEAR(hv[j], fd, 1e-4 * std::max(1.0, std::fabs(fd))) << j;
        }
        // The cached coefficients follow epsilon (it is in the cache key).
        ModelSpec s2 = s;
        s2.epsilon = 0.9;
        std::vector<double> hv2(w.size(), 0.0), hv1(w.size(), 0.0);
        HessianVectorSum(s2, d, w, v, hv2);
        HessianVectorSum(s, d, w, v, hv1);
        EXPECT_EQ(hv1, hv);
        if (loss == Loss::kSquaredEpsilonInsensitive) {
          EXPECT_NE(hv2, hv);
        }
      }
    }
  }
}

TEST(Regression, MetricsMatchDirectComputation) {
  const Pair p = RegressionData(50, 4, 7);
  LinearModel m{RegressionSpec(Loss::kSquared, 4, true), {}};
  m.weights = RandomWeights(m.spec, 3);
  const std::vector<double> pred = PredictLabels(m, p.csr);
  double sse = 0, sae = 0, mean = 0;
  for (std::size_t r = 0; r < pred.size(); ++r) mean += p.csr.labels[r] / 50.0;
  double sst = 0;
  for (std::size_t r = 0; r < pred.size(); ++r) {
    sse += (p.csr.labels[r] - pred[r]) * (p.csr.labels[r] - pred[r]);
    sae += std::fabs(p.csr.labels[r] - pred[r]);
    sst += (p.csr.labels[r] - mean) * (p.csr.labels[r] - mean);
  }
  // Sums of two halves (as two ranks would allreduce them) give the same metrics.
  EvalSums a = Evaluate(m, p.csr);
  auto metrics = TaskMetrics(m.spec, EvalSums::Unpack(a.Pack(), 0));
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_EQ(metrics[0].first, "mse");
  EXPECT_NEAR(metrics[0].second, sse / 50, 1e-12);
  EXPECT_EQ(metrics[1].first, "mae");
  EXPECT_NEAR(metrics[1].second, sae / 50, 1e-12);
  EXPECT_EQ(metrics[2].first, "r2");
  EXPECT_NEAR(metrics[2].second, 1 - sse / sst, 1e-10);
}

// ---- Row weights (C_i = C * weight_i): integer weights equal repeated rows ----

Dataset Repeat(const Dataset& d, const std::vector<double>& times) {
  Dataset out;
  out.num_features = d.num_features;
  out.dense_cols = d.dense_cols;
  out.row_ptr.push_back(0);
  for (std::int64_t r = 0; r < d.rows(); ++r) {
    for (int t = 0; t < static_cast<int>(times[static_cast<std::size_t>(r)]); ++t) {
      out.labels.push_back(d.labels[static_cast<std::size_t>(r)]);
      if (!d.class_index.empty())
        out.class_index.push_back(d.class_index[static_cast<std::size_t>(r)]);
      if (d.is_dense()) {
        out.dense.insert(out.dense.end(), d.dense.begin() + r * d.dense_cols,
                         d.dense.begin() + (r + 1) * d.dense_cols);
      } else {
        for (std::int64_t q = d.row_ptr[static_cast<std::size_t>(r)];
             q < d.row_ptr[static_cast<std::size_t>(r) + 1]; ++q) {
          out.col.push_back(d.col[static_cast<std::size_t>(q)]);
          out.val.push_back(d.val[static_cast<std::size_t>(q)]);
        }
      }
      out.row_ptr.push_back(static_cast<std::int64_t>(out.col.size()));
    }
  }
  if (d.is_dense()) out.row_ptr = {0};
  return out;
}

TEST(RowWeights, IntegerWeightsEqualRepeatedRowsInEveryKernel) {
  const std::vector<Case> cases = {{Loss::kLogistic, Multiclass::kOvr, 2},
                                   {Loss::kLogistic, Multiclass::kMultinomial, 3},
                                   {Loss::kSquaredHinge, Multiclass::kOvr, 3},
                                   {Loss::kSquaredEpsilonInsensitive, Multiclass::kOvr, 2}};
  for (const Case& c : cases) {
    for (bool dense : {false, true}) {
      SCOPED_TRACE(ToString(c.loss) + " " + ToString(c.mc) + " k=" + std::to_string(c.k) +
                   (dense ? " dense" : " csr"));
      const bool reg = IsRegression(c.loss);
      Pair p = reg ? RegressionData(300, 6, 41) : RandomData(300, 6, c.k, 41);
      Dataset d = dense ? p.dense : p.csr;
      const ModelSpec s = reg ? RegressionSpec(c.loss, 6, true) : Spec(c.loss, c.mc, c.k, 6, true);
      std::mt19937 gen(9);
      d.row_weight.resize(static_cast<std::size_t>(d.rows()));
      for (double& w : d.row_weight) w = static_cast<double>(gen() % 4);
      const Dataset rep = Repeat(d, d.row_weight);
      const std::vector<double> w = RandomWeights(s, 3, 0.5), v = RandomWeights(s, 4);
      std::vector<double> g1(w.size(), 0.0), g2(w.size(), 0.0);
      const double f1 = LossGradientSum(s, d, w, g1), f2 = LossGradientSum(s, rep, w, g2);
      EXPECT_NEAR(f1, f2, 1e-10 * f2);
      std::vector<double> h1(w.size(), 0.0), h2(w.size(), 0.0), q1(w.size(), 0.0),
          q2(w.size(), 0.0);
      HessianVectorSum(s, d, w, v, h1);
      HessianVectorSum(s, rep, w, v, h2);
      HessianDiagonalSum(s, d, w, q1);
      HessianDiagonalSum(s, rep, w, q2);
      for (std::size_t j = 0; j < w.size(); ++j) {
        EXPECT_NEAR(g1[j], g2[j], 1e-9 * std::max(1.0, std::fabs(g2[j]))) << j;
        EXPECT_NEAR(h1[j], h2[j], 1e-9 * std::max(1.0, std::fabs(h2[j]))) << j;
        EXPECT_NEAR(q1[j], q2[j], 1e-9 * std::max(1.0, std::fabs(q2[j]))) << j;
      }
    }
  }
}

// ---- Metrics against independent, slow computations ----

// ROC AUC by all pairs: P(score_pos > score_neg) + 0.5 P(equal), O(n^2).
double SlowAuc(const std::vector<double>& s, const std::vector<std::int32_t>& c) {
  double num = 0, pairs = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (c[i] != 1 || c[j] != 0) continue;
      pairs += 1;
      num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
  }
  return num / pairs;
}

// Average precision from its definition: for each positive (ties broken pessimistically
// within a tied group, as one threshold), precision at the threshold of its score.
double SlowAveragePrecision(const std::vector<double>& s, const std::vector<std::int32_t>& c) {
  double pos = 0, ap = 0;
  for (std::int32_t x : c) pos += x == 1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (c[i] != 1) continue;
    double at_or_above = 0, pos_at_or_above = 0;
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (s[j] >= s[i]) {
        at_or_above += 1;
        pos_at_or_above += c[j] == 1;
      }
    }
    ap += pos_at_or_above / at_or_above / pos;
  }
  return ap;
}

TEST(Metrics, AucPrAucLogLossAndMacroF1MatchIndependentComputations) {
  std::mt19937 gen(17);
  std::uniform_int_distribution<int> coarse(0, 20);  // coarse scores: many ties
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> s(60);
    std::vector<std::int32_t> c(60);
    for (std::size_t i = 0; i < s.size(); ++i) {
      c[i] = static_cast<std::int32_t>(gen() % 2);
      s[i] = coarse(gen) * 0.1 + (c[i] == 1 ? 0.3 : 0.0);
    }
    c[0] = 0;
    c[1] = 1;
    EXPECT_NEAR(BinaryAuc(s, c), SlowAuc(s, c), 1e-12);
    EXPECT_NEAR(BinaryPrAuc(s, c), SlowAveragePrecision(s, c), 1e-12);
  }
  // A perfect ranking has both areas 1.
  EXPECT_DOUBLE_EQ(
      BinaryPrAuc(std::vector<double>{0.1, 0.9, 0.8}, std::vector<std::int32_t>{0, 1, 1}), 1.0);

  // Binary logistic: log loss = mean of -log p(true class) with p = sigmoid.
  const Pair p = RandomData(80, 5, 2, 12);
  LinearModel m;
  m.spec = Spec(Loss::kLogistic, Multiclass::kOvr, 2, 5, true);
  m.weights = RandomWeights(m.spec, 4);
  const std::vector<double> dv = DecisionValues(m, p.csr);
  double ll = 0;
  for (std::size_t r = 0; r < dv.size(); ++r) {
    const double p1 = 1 / (1 + std::exp(-dv[r]));
    ll -= std::log(p.csr.class_index[r] == 1 ? p1 : 1 - p1);
  }
  const auto bin = TaskMetrics(m.spec, Evaluate(m, p.csr));
  ASSERT_GE(bin.size(), 3u);
  EXPECT_EQ(bin[1].first, "log_loss");
  EXPECT_NEAR(bin[1].second, ll / 80, 1e-12);

  // Multiclass macro-F1 from a known confusion matrix (rows true, columns predicted).
  ModelSpec three = Spec(Loss::kSquaredHinge, Multiclass::kOvr, 3, 2, false);
  EvalSums e;
  e.rows = 10;
  e.correct = 6;
  e.confusion = {3, 1, 0,   // class 0: tp 3, fn 1, fp 1 -> F1 6/8
                 1, 2, 1,   // class 1: tp 2, fn 2, fp 2 -> F1 4/8
                 0, 1, 1};  // class 2: tp 1, fn 1, fp 1 -> F1 2/4
  const auto mc = TaskMetrics(three, e);
  ASSERT_EQ(mc.size(), 2u);  // accuracy, macro_f1 (no log loss for an SVM)
  EXPECT_EQ(mc[0].first, "accuracy");
  EXPECT_DOUBLE_EQ(mc[0].second, 0.6);
  EXPECT_EQ(mc[1].first, "macro_f1");
  EXPECT_NEAR(mc[1].second, (6.0 / 8 + 4.0 / 8 + 2.0 / 4) / 3, 1e-15);
}

TEST(Gradient, BitIdenticalAcrossRuns) {
  const Pair p = RandomData(5000, 20, 3, 4);
  const ModelSpec s = Spec(Loss::kLogistic, Multiclass::kMultinomial, 3, 20, true);
  const std::vector<double> w = RandomWeights(s, 1);
  std::vector<double> g1(w.size(), 0.0), g2(w.size(), 0.0);
  const double f1 = LossGradientSum(s, p.csr, w, g1);
  const double f2 = LossGradientSum(s, p.csr, w, g2);
  EXPECT_EQ(f1, f2);
  EXPECT_EQ(g1, g2);
}

TEST(Predict, LabelsProbabilitiesEvaluateAuc) {
  const Pair p = RandomData(200, 4, 3, 6);
  LinearModel m;
  m.spec = Spec(Loss::kLogistic, Multiclass::kOvr, 3, 4, true);
  m.weights = RandomWeights(m.spec, 2);
  const std::vector<double> s = DecisionValues(m, p.csr);
  const std::vector<double> labels = PredictLabels(m, p.csr);
  const std::vector<double> prob = PredictProbabilities(m, p.dense);
  double correct = 0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    std::size_t best = 0;
    for (std::size_t o = 1; o < 3; ++o) best = s[r * 3 + o] > s[r * 3 + best] ? o : best;
    EXPECT_EQ(labels[r], m.spec.classes[best]);
    EXPECT_NEAR(prob[r * 3] + prob[r * 3 + 1] + prob[r * 3 + 2], 1.0, 1e-12);
    EXPECT_GT(prob[r * 3 + best], prob[r * 3 + (best + 1) % 3]);
    correct += labels[r] == p.csr.labels[r];
  }
  const EvalSums e = Evaluate(m, p.csr);
  EXPECT_EQ(e.rows, 200);
  EXPECT_EQ(e.correct, correct);
  double total = 0;
  for (double c : e.confusion) total += c;
  EXPECT_EQ(total, 200);
  EXPECT_EQ(e.loss_sum, LossGradientSum(m.spec, p.csr, m.weights, {}));
  EXPECT_GT(e.log_loss_sum, 0);
  const EvalSums back = EvalSums::Unpack(e.Pack(), 3);
  EXPECT_EQ(back.Pack(), e.Pack());
  EXPECT_THROW(EvalSums::Unpack(e.Pack(), 2), UsageError);

  m.spec.loss = Loss::kHinge;
  EXPECT_THROW(PredictProbabilities(m, p.csr), UsageError);

  const std::vector<double> scores = {0.1, 0.4, 0.35, 0.8, 0.4};
  const std::vector<std::int32_t> truth = {0, 0, 1, 1, 1};
  // Pairs (pos, neg): (0.35,0.1)=1 (0.35,0.4)=0 (0.8,*)=2 (0.4,0.1)=1 (0.4,0.4)=0.5 -> 4.5/6.
  EXPECT_DOUBLE_EQ(BinaryAuc(scores, truth), 4.5 / 6);
  EXPECT_TRUE(std::isnan(BinaryAuc(scores, std::vector<std::int32_t>(5, 1))));
}

// Wide sparse data (2^16 features, 20000 rows of 30 nonzeros: more than 1 per weight even
// with 4 outputs) on one thread: the kernels' first calls at this size alternate the separate
// and the paired layout (gradient_internal.h: LayoutTrial) before keeping one. Every call
// must give the same bits.
TEST(Kernels, PairedLayoutGivesTheSameBitsAsSeparate) {
  constexpr std::int64_t kNf = std::int64_t{1} << 16;
  std::mt19937 gen(11);
  std::uniform_int_distribution<std::int32_t> feature(0, static_cast<std::int32_t>(kNf - 1));
  std::uniform_real_distribution<double> u(-1, 1);
  Dataset d;
  d.row_ptr.push_back(0);
  for (int r = 0; r < 20000; ++r) {
    std::vector<std::int32_t> cols;
    for (int q = 0; q < 30; ++q) cols.push_back(feature(gen));
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    for (std::int32_t c : cols) {
      d.col.push_back(c);
      d.val.push_back(static_cast<float>(u(gen)));
    }
    d.row_ptr.push_back(static_cast<std::int64_t>(d.col.size()));
    d.labels.push_back(static_cast<double>(r % 3) * 2 - 1);
  }
  d.num_features = kNf;
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  struct Wide {
    ModelSpec spec;
    bool regression;
  };
  std::vector<Wide> cases;
  for (const Case& c :
       {Case{Loss::kLogistic, Multiclass::kOvr, 2}, Case{Loss::kSquaredHinge, Multiclass::kOvr, 3},
        Case{Loss::kLogistic, Multiclass::kMultinomial, 3}})
    cases.push_back({Spec(c.loss, c.mc, c.k, kNf, true), false});
  cases.push_back({RegressionSpec(Loss::kSquaredEpsilonInsensitive, kNf, true), true});
  for (const Wide& c : cases) {
    SCOPED_TRACE(ToString(c.spec.loss) + " k=" + std::to_string(c.spec.classes.size()));
    Dataset data = d;
    if (c.regression) {
      for (double& y : data.labels) y *= 0.5;
    } else {
      const std::size_t k = c.spec.classes.size();
      for (std::size_t r = 0; r < data.labels.size(); ++r)
        data.labels[r] = static_cast<double>(r % k) * 2 - 1;
      AssignClasses(data, c.spec.classes);
    }
    const std::vector<double> w = RandomWeights(c.spec, 5, 0.3);
    const std::vector<double> v = RandomWeights(c.spec, 6);
    std::vector<double> g0, h0;
    double f0 = 0;
    for (int call = 0; call < 6; ++call) {
      std::vector<double> g(w.size(), 0.0), h(w.size(), 0.0);
      const double f = LossGradientSum(c.spec, data, w, g);
      HessianVectorSum(c.spec, data, w, v, h);
      if (call == 0) {
        f0 = f;
        g0 = g;
        h0 = h;
        continue;
      }
      EXPECT_EQ(f, f0) << "call " << call;
      EXPECT_EQ(g, g0) << "call " << call;
      EXPECT_EQ(h, h0) << "call " << call;
    }
    // And they are the right numbers: the loss agrees with the loss-only pass, and the
    // Hessian-vector product with a finite difference of the gradient.
    EXPECT_EQ(LossGradientSum(c.spec, data, w, {}), f0);
    std::vector<double> wp = w, gp(w.size(), 0.0);
    const double eps = 1e-6;
    for (std::size_t j = 0; j < w.size(); ++j) wp[j] += eps * v[j];
    LossGradientSum(c.spec, data, wp, gp);
    for (std::size_t j = 0; j < w.size(); j += 997)
      EXPECT_NEAR((gp[j] - g0[j]) / eps, h0[j], 1e-4 * (1 + std::abs(h0[j]))) << "j " << j;
  }
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

}  // namespace
}  // namespace ringtrain::models
