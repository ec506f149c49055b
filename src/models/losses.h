// models/losses.h — internal: the per-example losses as types (template parameters of the
// kernels, so no virtual call per example), and the row policies binary/OVR and softmax.
// Each functor names its descriptor (kId, loss_info.h); AllLosses lists every functor, and
// WithLoss turns a Loss value into its functor type: the one switch from value to type.
//
// z = y * s, s = w.x (+ bias), y in {-1,+1}.
//   logistic       L = log(1+exp(-z)) = log1p(exp(-|z|)) + max(0,-z)   (never overflows)
//                  L' = -1/(1+exp(z)),  L'' = e/(1+e)^2 with e = exp(-|z|)
//   hinge          L = max(0,1-z),      L' = -1 if z<1 else 0  (subgradient), no L''
//   squared_hinge  L = max(0,1-z)^2,    L' = -2 max(0,1-z),  L'' = 2 if z<1 (generalized)
// Softmax over K outputs s_k with true class c: L = logsumexp(s) - s_c,
//   dL/ds_k = p_k - [k==c],  H = diag(p) - p p^T  (per example, in s-space).
// Regression (one output), d = s - y with y the raw target, e = epsilon (liblinear -p):
//   squared_epsilon_insensitive  L = max(0,|d|-e)^2,  L' = 2 sign(d) (|d|-e) if |d|>e,
//                                L'' = 2 if |d|>e (generalized, liblinear's l2r_l2_svr_fun)
//   epsilon_insensitive          L = max(0,|d|-e),    L' = sign(d) if |d|>e (subgradient)
//   squared                      L = d^2,             L' = 2d,  L'' = 2
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "models/dataset.h"
#include "models/kernels.h"
#include "models/loss_info.h"

namespace ringtrain::models::internal {

struct LogisticLoss {
  static constexpr Loss kId = Loss::kLogistic;
  static constexpr bool kHasCurvature = true;
  static double Value(double z) { return std::log1p(std::exp(-std::fabs(z))) + std::max(0.0, -z); }
  static double Deriv(double z) {
    if (z >= 0) {
      const double e = std::exp(-z);
      return -e / (1.0 + e);
    }
    return -1.0 / (1.0 + std::exp(z));
  }
  static double Curvature(double z) {
    const double e = std::exp(-std::fabs(z));
    return e / ((1.0 + e) * (1.0 + e));
  }
};

struct HingeLoss {
  static constexpr Loss kId = Loss::kHinge;
  static constexpr bool kHasCurvature = false;
  static double Value(double z) { return z < 1.0 ? 1.0 - z : 0.0; }
  static double Deriv(double z) { return z < 1.0 ? -1.0 : 0.0; }
  static double Curvature(double) { return 0.0; }
};

struct SquaredHingeLoss {
  static constexpr Loss kId = Loss::kSquaredHinge;
  static constexpr bool kHasCurvature = true;
  static double Value(double z) { return z < 1.0 ? (1.0 - z) * (1.0 - z) : 0.0; }
  static double Deriv(double z) { return z < 1.0 ? -2.0 * (1.0 - z) : 0.0; }
  static double Curvature(double z) { return z < 1.0 ? 2.0 : 0.0; }
};

// Regression functors take the residual d = s - y and epsilon.
struct SquaredEpsilonInsensitiveLoss {
  static constexpr Loss kId = Loss::kSquaredEpsilonInsensitive;
  static constexpr bool kHasCurvature = true;
  static double Value(double d, double e) {
    if (d > e) return (d - e) * (d - e);
    if (d < -e) return (d + e) * (d + e);
    return 0.0;
  }
  static double Deriv(double d, double e) {
    if (d > e) return 2.0 * (d - e);
    if (d < -e) return 2.0 * (d + e);
    return 0.0;
  }
  static double Curvature(double d, double e) { return d > e || d < -e ? 2.0 : 0.0; }
};

struct EpsilonInsensitiveLoss {
  static constexpr Loss kId = Loss::kEpsilonInsensitive;
  static constexpr bool kHasCurvature = false;
  static double Value(double d, double e) {
    if (d > e) return d - e;
    if (d < -e) return -d - e;
    return 0.0;
  }
  static double Deriv(double d, double e) {
    if (d > e) return 1.0;
    if (d < -e) return -1.0;
    return 0.0;
  }
  static double Curvature(double, double) { return 0.0; }
};

struct SquaredLoss {
  static constexpr Loss kId = Loss::kSquared;
  static constexpr bool kHasCurvature = true;
  static double Value(double d, double) { return d * d; }
  static double Deriv(double d, double) { return 2.0 * d; }
  static double Curvature(double, double) { return 2.0; }
};

template <class... Ls>
struct LossList {};
using AllLosses = LossList<LogisticLoss, HingeLoss, SquaredHingeLoss, SquaredEpsilonInsensitiveLoss,
                           EpsilonInsensitiveLoss, SquaredLoss>;

// Every row of the table has its functor, in table order, and the flags agree.
template <class... Ls>
constexpr bool ListMatchesTable(LossList<Ls...>) {
  std::size_t i = 0;
  bool ok = sizeof...(Ls) == kLossTable.size();
  ((ok = ok && Ls::kId == kLossTable[i].loss && Ls::kHasCurvature == kLossTable[i].has_hessian,
    ++i),
   ...);
  return ok;
}
static_assert(ListMatchesTable(AllLosses{}), "AllLosses must list one functor per kLossTable row");

// fn.template operator()<Functor>() for the functor of `loss` (a value the edges validated;
// an unknown one falls to the last functor, never reached).
template <class Fn, class L, class... Rest>
decltype(auto) WithLossIn(Loss loss, Fn& fn) {
  if constexpr (sizeof...(Rest) == 0) {
    return fn.template operator()<L>();
  } else {
    if (loss == L::kId) return fn.template operator()<L>();
    return WithLossIn<Fn, Rest...>(loss, fn);
  }
}
template <class Fn, class... Ls>
decltype(auto) WithLoss(Loss loss, LossList<Ls...>, Fn&& fn) {
  return WithLossIn<Fn, Ls...>(loss, fn);
}

// Binary (k == 1: y = +1 iff class index 1) and one-vs-rest (y_o = +1 iff class index o).
// Target(data, r) is what the row's loss compares the scores with: its class index.
template <class L>
struct OvrPolicy {
  static constexpr bool kHasCurvature = L::kHasCurvature;
  using TargetType = std::int32_t;
  static std::int32_t Target(const Dataset& data, std::int64_t r, const Shape&) {
    return data.class_index[static_cast<std::size_t>(r)];
  }
  static double Sign(int k, int o, std::int32_t c) {
    return (k == 1 ? c == 1 : c == o) ? 1.0 : -1.0;
  }
  // Returns the example's loss; d[o] = dL/ds_o.
  static double Row(const double* s, int k, std::int32_t c, double* d) {
    double loss = 0;
    for (int o = 0; o < k; ++o) {
      const double y = Sign(k, o, c);
      const double z = y * s[o];
      loss += L::Value(z);
      d[o] = y * L::Deriv(z);
    }
    return loss;
  }
  static double Loss(const double* s, int k, std::int32_t c) {
    double loss = 0;
    for (int o = 0; o < k; ++o) loss += L::Value(Sign(k, o, c) * s[o]);
    return loss;
  }
  // The loss of the row's own-class output (k > 1), for per-output class weights.
  static double OwnLoss(const double* s, int, std::int32_t c) { return L::Value(s[c]); }
  // out[o] = (H u)_o for the example's Hessian in s-space (diagonal for OVR).
  static void HessVec(const double* s, const double* u, int k, std::int32_t c, double* out) {
    for (int o = 0; o < k; ++o) out[o] = L::Curvature(Sign(k, o, c) * s[o]) * u[o];
  }
  // The same split in two: coef depends only on s (cached across Hessian-vector products at
  // one w), HessApply gives H u from coef. HessApply(HessCoef(s), u) == HessVec(s, u) bitwise.
  static void HessCoef(const double* s, int k, std::int32_t c, double* coef) {
    for (int o = 0; o < k; ++o) coef[o] = L::Curvature(Sign(k, o, c) * s[o]);
  }
  static void HessApply(const double* coef, const double* u, int k, double* out) {
    for (int o = 0; o < k; ++o) out[o] = coef[o] * u[o];
  }
};

// Regression: one output, the target is the row's raw label (and epsilon rides along, so the
// policy stays a set of static functions).
struct RegressionTarget {
  double y;
  double epsilon;
};
template <class L>
struct RegressionPolicy {
  static constexpr bool kHasCurvature = L::kHasCurvature;
  using TargetType = RegressionTarget;
  static RegressionTarget Target(const Dataset& data, std::int64_t r, const Shape& sh) {
    return {data.labels[static_cast<std::size_t>(r)], sh.epsilon};
  }
  static double Row(const double* s, int, RegressionTarget t, double* d) {
    const double res = s[0] - t.y;
    d[0] = L::Deriv(res, t.epsilon);
    return L::Value(res, t.epsilon);
  }
  static double Loss(const double* s, int, RegressionTarget t) {
    return L::Value(s[0] - t.y, t.epsilon);
  }
  static void HessVec(const double* s, const double* u, int, RegressionTarget t, double* out) {
    out[0] = L::Curvature(s[0] - t.y, t.epsilon) * u[0];
  }
  static void HessCoef(const double* s, int, RegressionTarget t, double* coef) {
    coef[0] = L::Curvature(s[0] - t.y, t.epsilon);
  }
  static void HessApply(const double* coef, const double* u, int, double* out) {
    out[0] = coef[0] * u[0];
  }
};

// The row policy of a loss functor for one-vs-rest/binary models.
template <class L>
using PolicyOf = std::conditional_t<IsRegression(L::kId), RegressionPolicy<L>, OvrPolicy<L>>;

struct SoftmaxPolicy {
  static constexpr bool kHasCurvature = true;
  using TargetType = std::int32_t;
  static std::int32_t Target(const Dataset& data, std::int64_t r, const Shape&) {
    return data.class_index[static_cast<std::size_t>(r)];
  }
  // p[o] = softmax(s)_o; returns logsumexp(s).
  static double Probabilities(const double* s, int k, double* p) {
    double m = s[0];
    for (int o = 1; o < k; ++o) m = std::max(m, s[o]);
    double sum = 0;
    for (int o = 0; o < k; ++o) {
      p[o] = std::exp(s[o] - m);
      sum += p[o];
    }
    for (int o = 0; o < k; ++o) p[o] /= sum;
    return m + std::log(sum);
  }
  static double Row(const double* s, int k, std::int32_t c, double* d) {
    const double lse = Probabilities(s, k, d);
    d[c] -= 1.0;
    return lse - s[c];
  }
  static double Loss(const double* s, int k, std::int32_t c) {
    double m = s[0];
    for (int o = 1; o < k; ++o) m = std::max(m, s[o]);
    double sum = 0;
    for (int o = 0; o < k; ++o) sum += std::exp(s[o] - m);
    return m + std::log(sum) - s[c];
  }
  static void HessVec(const double* s, const double* u, int k, std::int32_t, double* out) {
    Probabilities(s, k, out);  // out = p
    double pu = 0;
    for (int o = 0; o < k; ++o) pu += out[o] * u[o];
    for (int o = 0; o < k; ++o) out[o] *= u[o] - pu;
  }
  static void HessCoef(const double* s, int k, std::int32_t, double* coef) {
    Probabilities(s, k, coef);  // coef = p
  }
  static void HessApply(const double* p, const double* u, int k, double* out) {
    double pu = 0;
    for (int o = 0; o < k; ++o) pu += p[o] * u[o];
    for (int o = 0; o < k; ++o) out[o] = p[o] * (u[o] - pu);
  }
};

}  // namespace ringtrain::models::internal
