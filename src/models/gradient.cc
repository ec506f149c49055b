// models/gradient.cc — LossGradientSum over one shard (HessianVectorSum: hessian.cc).
//
// One kernel template per (row policy, storage): the loss is a template parameter, so the
// per-example loop has no virtual call. Rows are split over OpenMP threads in contiguous
// blocks (kernels.h); per-thread partial sums are added in thread order, so a fixed thread
// count gives bit-identical results.
#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"
#include "models/gradient_internal.h"
#include "models/kernels.h"
#include "models/linear_model.h"
#include "models/losses.h"

namespace ringtrain::models {
namespace {

using internal::AllZero;
using internal::ByBlockWidth;
using internal::CheckInputs;
using internal::Dispatch;
using internal::GetRow;
using internal::kSoftmax;
using internal::PartialSums;
using internal::Shape;
using internal::Slot;
using internal::Transposed;
using internal::UseAvx2;

// Sums over the rows; grad may be null (loss only).
template <class Policy, bool kDense>
double GradientKernel(const Shape& sh, const Dataset& data, const double* w, double* grad,
                      std::span<const std::int64_t> rows) {
  const bool subset = !rows.empty();
  const std::int64_t n = subset ? static_cast<std::int64_t>(rows.size()) : data.rows();
  const std::size_t nw = static_cast<std::size_t>(sh.k * sh.dim);
  const int threads = internal::ThreadsForSums(n, data, grad != nullptr ? nw : 0);
  std::vector<double> loss_part(static_cast<std::size_t>(threads), 0.0);
  const PartialSums parts(grad != nullptr ? nw : 0, threads, true, grad);
  const int used =
      internal::ParallelRowBlocks(n, threads, [&](int t, std::int64_t b, std::int64_t e) {
        std::vector<double> s(static_cast<std::size_t>(sh.k)), d(static_cast<std::size_t>(sh.k));
        double* g = grad != nullptr ? parts.For(t) : nullptr;
        double loss = 0;
        for (std::int64_t i = b; i < e; ++i) {
          const std::int64_t r = subset ? rows[static_cast<std::size_t>(i)] : i;
          const internal::Row row = GetRow<kDense>(data, r, sh.nf);
          internal::Decisions<kDense>(sh, row, w, s.data());
          const auto c = Policy::Target(data, r, sh);
          const double rw = internal::RowWeight(data, r);
          if (g != nullptr) {
            const double l = Policy::Row(s.data(), sh.k, c, d.data());
            loss += internal::Weighted(
                rw, internal::OwnClass<Policy>(data, c, s.data(), sh.k, l, d.data()), d.data(),
                sh.k);
            internal::Scatter<kDense>(sh, row, d.data(), g);
          } else {
            const double l = Policy::Loss(s.data(), sh.k, c);
            loss += internal::Weighted(
                rw, internal::OwnClass<Policy>(data, c, s.data(), sh.k, l, nullptr), nullptr, 0);
          }
        }
        loss_part[static_cast<std::size_t>(t)] = loss;
      });
  double loss = 0;
  for (int t = 0; t < used; ++t) loss += loss_part[static_cast<std::size_t>(t)];
  if (grad != nullptr) parts.AddInto(used);
  return loss;
}

// ---- Class-blocked path (2 <= K <= 16 outputs; kernels.h) ----

// Rows [b, e) of the shard (or of `rows`): loss sum; gradient into gt (feature-major) if set.
// kPaired: wt and gt are the two halves of one paired table (gradient_internal.h:
// PairedVectors), 2 Kp per feature.
template <class Policy, bool kDense, int Kp, bool kFma, bool kPaired>
RINGTRAIN_ALWAYS_INLINE double BlockedGradRange(const Shape& sh, const Dataset& data,
                                                const double* wt, double* gt,
                                                std::span<const std::int64_t> rows, std::int64_t b,
                                                std::int64_t e) {
  constexpr int S = kPaired ? 2 * Kp : Kp;
  constexpr std::int64_t kAhead = 2;  // rows prefetched ahead (paired layout)
  const int k = Kp == 1 ? 1 : sh.k;   // (tells the compiler k <= Kp when Kp == 1)
  alignas(64) double s[Kp] = {};
  alignas(64) double d[Kp] = {};
  const double* wb = wt + sh.nf * S;  // bias weights (if sh.bias)
  double loss = 0;
  for (std::int64_t i = b; i < e; ++i) {
    const std::int64_t r = rows.empty() ? i : rows[static_cast<std::size_t>(i)];
    if constexpr (kPaired) {
      if (i + kAhead < e) {
        const std::int64_t ra =
            rows.empty() ? i + kAhead : rows[static_cast<std::size_t>(i + kAhead)];
        internal::PrefetchRow<S>(GetRow<kDense>(data, ra, sh.nf), wt);
      }
    }
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots<Kp, kDense, kFma, S>(row, wt, s);
    if (sh.bias)
      for (int o = 0; o < k; ++o) s[o] += wb[o] * sh.bias_value;
    const auto c = Policy::Target(data, r, sh);
    if (gt == nullptr) {
      const double l = internal::OwnClass<Policy>(data, c, s, k, Policy::Loss(s, k, c), nullptr);
      loss += internal::Weighted(internal::RowWeight(data, r), l, nullptr, 0);
      continue;
    }
    const double l = Policy::Row(s, k, c, d);
    loss += internal::Weighted(internal::RowWeight(data, r),
                               internal::OwnClass<Policy>(data, c, s, k, l, d), d, k);
    for (int o = k; o < Kp; ++o) d[o] = 0.0;
    if (AllZero<Kp>(d)) continue;
    internal::BlockedScatter<Kp, kDense, kFma, S>(row, d, gt);
    if (sh.bias)
      for (int o = 0; o < k; ++o) gt[sh.nf * S + o] += d[o] * sh.bias_value;
  }
  return loss;
}

template <class Policy, bool kDense, int Kp, bool kPaired>
__attribute__((flatten)) double BlockedGradBase(const Shape& sh, const Dataset& data,
                                                const double* wt, double* gt,
                                                std::span<const std::int64_t> rows, std::int64_t b,
                                                std::int64_t e) {
  return BlockedGradRange<Policy, kDense, Kp, false, kPaired>(sh, data, wt, gt, rows, b, e);
}
#ifdef RINGTRAIN_AVX2_PATH
template <class Policy, bool kDense, int Kp, bool kPaired>
RINGTRAIN_TARGET_AVX2 double BlockedGradAvx2(const Shape& sh, const Dataset& data, const double* wt,
                                             double* gt, std::span<const std::int64_t> rows,
                                             std::int64_t b, std::int64_t e) {
  return BlockedGradRange<Policy, kDense, Kp, true, kPaired>(sh, data, wt, gt, rows, b, e);
}
#endif

template <class Policy, bool kDense, int Kp, bool kPaired>
double BlockedGradRows(const Shape& sh, const Dataset& data, const double* wt, double* gt,
                       std::span<const std::int64_t> rows, std::int64_t b, std::int64_t e,
                       [[maybe_unused]] bool avx2) {
#ifdef RINGTRAIN_AVX2_PATH
  if (avx2) return BlockedGradAvx2<Policy, kDense, Kp, kPaired>(sh, data, wt, gt, rows, b, e);
#endif
  return BlockedGradBase<Policy, kDense, Kp, kPaired>(sh, data, wt, gt, rows, b, e);
}

template <class Policy, bool kDense, int Kp>
double BlockedGradientKernel(const Shape& sh, const Dataset& data, const double* w, double* grad,
                             std::span<const std::int64_t> rows) {
  const std::int64_t n = rows.empty() ? data.rows() : static_cast<std::int64_t>(rows.size());
  const std::size_t stride = static_cast<std::size_t>(sh.dim) * Kp;
  const int threads = internal::ThreadsForSums(n, data, grad != nullptr ? stride : 0);
  const bool avx2 = UseAvx2();
  // The paired layout only where there is a gradient to scatter (a loss alone only gathers).
  thread_local internal::LayoutTrial trial;
  double loss = 0;
  trial.Run(
      !kDense && grad != nullptr, stride, threads, internal::PassNonzeros(n, data),
      [&] {
        const internal::PairedVectors p(sh, Kp, w);
        loss = BlockedGradRows<Policy, kDense, Kp, true>(sh, data, p.inputs(), p.sums(), rows, 0, n,
                                                         avx2);
        p.AddInto(grad);
      },
      [&] {
        const double* wt = Transposed(sh, Kp, w, Slot::kWeights);
        std::vector<double> loss_part(static_cast<std::size_t>(threads), 0.0);
        const PartialSums parts(grad != nullptr ? stride : 0, threads, Kp == 1, grad);
        const int used =
            internal::ParallelRowBlocks(n, threads, [&](int t, std::int64_t b, std::int64_t e) {
              double* gt = grad != nullptr ? parts.For(t) : nullptr;
              loss_part[static_cast<std::size_t>(t)] =
                  BlockedGradRows<Policy, kDense, Kp, false>(sh, data, wt, gt, rows, b, e, avx2);
            });
        for (int t = 0; t < used; ++t) loss += loss_part[static_cast<std::size_t>(t)];
        if (grad != nullptr) parts.AddTransposedInto(sh, Kp, used);
      });
  return loss;
}

}  // namespace

double LossGradientSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                       std::span<double> grad, std::span<const std::int64_t> rows) {
  CheckInputs(spec, data, w.size(), rows);
  if (!grad.empty() && grad.size() != w.size()) {
    throw UsageError("gradient has " + std::to_string(grad.size()) + " entries, weights " +
                         std::to_string(w.size()),
                     "LossGradientSum", "size the gradient like the weights (or empty)");
  }
  const Shape sh = internal::ShapeOf(spec);
  double* g = grad.empty() ? nullptr : grad.data();
  return Dispatch(spec, data, [&]<class P, bool kDense>() {
    double loss = 0;
    const bool blocked = ByBlockWidth<!kSoftmax<P>>(sh.k, kDense, [&](auto kp) {
      loss = BlockedGradientKernel<P, kDense, decltype(kp)::value>(sh, data, w.data(), g, rows);
    });
    return blocked ? loss : GradientKernel<P, kDense>(sh, data, w.data(), g, rows);
  });
}

}  // namespace ringtrain::models
