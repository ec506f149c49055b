// models/hessian.cc — HessianVectorSum over one shard, and the per-thread cache of the
// per-row Hessian coefficients it reuses across the CG steps at one w.
//
// Same shape as gradient.cc: one kernel template per (row policy, storage), the loss a
// template parameter; rows split over OpenMP threads in contiguous blocks (kernels.h),
// per-thread partial sums added in thread order, so a fixed thread count gives bit-identical
// results. The class-blocked path takes the AVX2+FMA code iff the CPU has both
// (gradient_internal.h).
#include <array>
#include <bit>
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

template <class Policy, bool kDense>
void HessianKernel(const Shape& sh, const Dataset& data, const double* w, const double* v,
                   double* out) {
  const std::int64_t n = data.rows();
  const std::size_t nw = static_cast<std::size_t>(sh.k * sh.dim);
  const int threads = internal::ThreadsForSums(n, data, nw);
  const PartialSums parts(nw, threads, true, out);
  const int used =
      internal::ParallelRowBlocks(n, threads, [&](int t, std::int64_t b, std::int64_t e) {
        const std::size_t k = static_cast<std::size_t>(sh.k);
        std::vector<double> s(k), u(k), hu(k);
        double* g = parts.For(t);
        for (std::int64_t r = b; r < e; ++r) {
          const internal::Row row = GetRow<kDense>(data, r, sh.nf);
          internal::Decisions<kDense>(sh, row, w, s.data());
          internal::Decisions<kDense>(sh, row, v, u.data());
          const auto c = Policy::Target(data, r, sh);
          Policy::HessVec(s.data(), u.data(), sh.k, c, hu.data());
          internal::OwnClass<Policy>(data, c, nullptr, sh.k, 0.0, hu.data());
          internal::Weighted(internal::RowWeight(data, r), 0.0, hu.data(), sh.k);
          internal::Scatter<kDense>(sh, row, hu.data(), g);
        }
      });
  parts.AddInto(used);
}

// ---- Class-blocked path (2 <= K <= 16 outputs; kernels.h) ----

// Per-row Hessian coefficients at w (Policy::HessCoef), rows [b, e), Kp per row.
template <class Policy, bool kDense, int Kp, bool kFma>
RINGTRAIN_ALWAYS_INLINE void BlockedCoefRange(const Shape& sh, const Dataset& data,
                                              const double* wt, double* coef, std::int64_t b,
                                              std::int64_t e) {
  const int k = Kp == 1 ? 1 : sh.k;
  alignas(64) double s[Kp] = {};
  const std::int64_t bias_at = sh.nf * Kp;
  for (std::int64_t r = b; r < e; ++r) {
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots<Kp, kDense, kFma>(row, wt, s);
    if (sh.bias)
      for (int o = 0; o < k; ++o) s[o] += wt[bias_at + o] * sh.bias_value;
    double* cr = coef + r * Kp;
    for (int o = 0; o < Kp; ++o) cr[o] = 0.0;
    Policy::HessCoef(s, k, Policy::Target(data, r, sh), cr);
  }
}

// gt += sum_r x_r (H_r (V x_r)) over rows [b, e), H_r from the cached coefficients; rows
// with zero curvature (squared hinge outside the margin) cost nothing. kPaired: vt and gt are
// the two halves of one paired table (gradient_internal.h: PairedVectors), 2 Kp per feature.
template <class Policy, bool kDense, int Kp, bool kFma, bool kPaired>
RINGTRAIN_ALWAYS_INLINE void BlockedHessRange(const Shape& sh, const Dataset& data,
                                              const double* coef, const double* vt, double* gt,
                                              std::int64_t b, std::int64_t e) {
  constexpr int S = kPaired ? 2 * Kp : Kp;
  constexpr std::int64_t kAhead = 2;  // rows prefetched ahead (paired layout)
  const int k = Kp == 1 ? 1 : sh.k;
  alignas(64) double u[Kp] = {};
  alignas(64) double hu[Kp] = {};
  const std::int64_t bias_at = sh.nf * S;
  for (std::int64_t r = b; r < e; ++r) {
    if constexpr (kPaired) {
      if (r + kAhead < e) internal::PrefetchRow<S>(GetRow<kDense>(data, r + kAhead, sh.nf), vt);
    }
    const double* cr = coef + r * Kp;
    if (AllZero<Kp>(cr)) continue;
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots<Kp, kDense, kFma, S>(row, vt, u);
    if (sh.bias)
      for (int o = 0; o < k; ++o) u[o] += vt[bias_at + o] * sh.bias_value;
    Policy::HessApply(cr, u, k, hu);
    internal::OwnClass<Policy>(data, Policy::Target(data, r, sh), nullptr, k, 0.0, hu);
    internal::Weighted(internal::RowWeight(data, r), 0.0, hu, k);
    for (int o = k; o < Kp; ++o) hu[o] = 0.0;
    if (AllZero<Kp>(hu)) continue;
    internal::BlockedScatter<Kp, kDense, kFma, S>(row, hu, gt);
    if (sh.bias)
      for (int o = 0; o < k; ++o) gt[bias_at + o] += hu[o] * sh.bias_value;
  }
}

template <class Policy, bool kDense, int Kp, bool kPaired>
__attribute__((flatten)) void BlockedHessBase(const Shape& sh, const Dataset& data,
                                              const double* coef, const double* vt, double* gt,
                                              std::int64_t b, std::int64_t e) {
  BlockedHessRange<Policy, kDense, Kp, false, kPaired>(sh, data, coef, vt, gt, b, e);
}
template <class Policy, bool kDense, int Kp>
__attribute__((flatten)) void BlockedCoefBase(const Shape& sh, const Dataset& data,
                                              const double* wt, double* coef, std::int64_t b,
                                              std::int64_t e) {
  BlockedCoefRange<Policy, kDense, Kp, false>(sh, data, wt, coef, b, e);
}
#ifdef RINGTRAIN_AVX2_PATH
template <class Policy, bool kDense, int Kp, bool kPaired>
RINGTRAIN_TARGET_AVX2 void BlockedHessAvx2(const Shape& sh, const Dataset& data, const double* coef,
                                           const double* vt, double* gt, std::int64_t b,
                                           std::int64_t e) {
  BlockedHessRange<Policy, kDense, Kp, true, kPaired>(sh, data, coef, vt, gt, b, e);
}
template <class Policy, bool kDense, int Kp>
RINGTRAIN_TARGET_AVX2 void BlockedCoefAvx2(const Shape& sh, const Dataset& data, const double* wt,
                                           double* coef, std::int64_t b, std::int64_t e) {
  BlockedCoefRange<Policy, kDense, Kp, true>(sh, data, wt, coef, b, e);
}
#endif

template <class Policy, bool kDense, int Kp, bool kPaired>
void BlockedHessRows(const Shape& sh, const Dataset& data, const double* coef, const double* vt,
                     double* gt, std::int64_t b, std::int64_t e, [[maybe_unused]] bool avx2) {
#ifdef RINGTRAIN_AVX2_PATH
  if (avx2) {
    BlockedHessAvx2<Policy, kDense, Kp, kPaired>(sh, data, coef, vt, gt, b, e);
    return;
  }
#endif
  BlockedHessBase<Policy, kDense, Kp, kPaired>(sh, data, coef, vt, gt, b, e);
}

// The per-row Hessian coefficients at one w, kept per calling thread: trust-region Newton
// calls HessianVectorSum many times at the same w (one per CG step), so the K dot products
// with w and the curvatures are computed once per w, not once per product. The key is
// everything the coefficients depend on: the dataset's identity and storage, the labels
// (hashed), the model shape and the bits of w — as a 256-bit hash (WeightsHash), not a copy:
// a copy of w is one more feature-sized vector held for the whole run. (A dataset mutated in
// place without moving its storage, at bit-identical w, would be missed; nothing does that.)
struct HessianCache {
  const Dataset* data = nullptr;
  const void* storage = nullptr;
  std::int64_t rows = -1;
  std::uint64_t labels_hash = 0;
  int k = 0;
  int kp = 0;
  const void* policy = nullptr;  // PolicyTag<Policy>
  std::int64_t dim = 0;
  bool bias = false;
  double bias_value = 0;
  std::size_t nw = 0;
  std::array<std::uint64_t, 4> w_hash = {};
  std::vector<double> coef;
};

// Four independent multiply-xor lanes over the bits of w (word i into lane i % 4), each
// finished with a 64-bit mixer: one streaming read of w, about as fast as comparing it with a
// copy was, and a different w gives the same 256 bits only by a 2^-256-scale accident.
inline std::array<std::uint64_t, 4> WeightsHash(const double* w, std::size_t n) {
  std::array<std::uint64_t, 4> h = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull,
                                    0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (std::size_t l = 0; l < 4; ++l)
      h[l] = (h[l] ^ std::bit_cast<std::uint64_t>(w[i + l])) * kMul;
  for (std::size_t l = 0; i < n; ++i, ++l)
    h[l] = (h[l] ^ std::bit_cast<std::uint64_t>(w[i])) * kMul;
  for (std::uint64_t& x : h) {  // splitmix64's finaliser, with the length folded in
    x ^= n;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
  }
  return h;
}

// FNV-1a over what the policy's losses compare the scores with (class indices, or the
// regression targets and epsilon).
inline void HashInto(std::uint64_t& h, std::int32_t c) {
  h ^= static_cast<std::uint32_t>(c);
  h *= 1099511628211ull;
}
inline void HashInto(std::uint64_t& h, internal::RegressionTarget t) {
  for (double v : {t.y, t.epsilon}) {
    h ^= std::bit_cast<std::uint64_t>(v);
    h *= 1099511628211ull;
  }
}
template <class Policy>
std::uint64_t LabelsHash(const Dataset& data, const Shape& sh) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::int64_t r = 0; r < data.rows(); ++r) HashInto(h, Policy::Target(data, r, sh));
  return h;
}

// One distinct address per row policy: the cache key's "which loss" without a list to keep.
template <class Policy>
constexpr char kPolicyTag = 0;

template <class Policy, bool kDense, int Kp>
const double* HessianCoefficients(const Shape& sh, const Dataset& data, const double* w,
                                  std::size_t nw, bool avx2) {
  thread_local HessianCache cache;
  const void* storage = kDense ? static_cast<const void*>(data.dense.data())
                               : static_cast<const void*>(data.val.data());
  const std::uint64_t labels = LabelsHash<Policy>(data, sh);
  const std::array<std::uint64_t, 4> w_hash = WeightsHash(w, nw);
  const bool hit = cache.data == &data && cache.storage == storage && cache.rows == data.rows() &&
                   cache.labels_hash == labels && cache.k == sh.k && cache.kp == Kp &&
                   cache.policy == &kPolicyTag<Policy> && cache.dim == sh.dim &&
                   cache.bias == sh.bias && cache.bias_value == sh.bias_value && cache.nw == nw &&
                   cache.w_hash == w_hash;
  if (hit) return cache.coef.data();
  const std::int64_t n = data.rows();
  cache.data = nullptr;  // invalid while refilling (an exception leaves it invalid)
  cache.coef.assign(static_cast<std::size_t>(n) * Kp, 0.0);
  const double* wt = Transposed(sh, Kp, w, Slot::kWeights);
  double* coef = cache.coef.data();
  internal::ParallelRowBlocks(n, internal::ThreadsFor(n), [&](int, std::int64_t b, std::int64_t e) {
#ifdef RINGTRAIN_AVX2_PATH
    if (avx2) {
      BlockedCoefAvx2<Policy, kDense, Kp>(sh, data, wt, coef, b, e);
    } else {
      BlockedCoefBase<Policy, kDense, Kp>(sh, data, wt, coef, b, e);
    }
#else
    (void)avx2;
    BlockedCoefBase<Policy, kDense, Kp>(sh, data, wt, coef, b, e);
#endif
  });
  cache.nw = nw;
  cache.w_hash = w_hash;
  cache.storage = storage;
  cache.rows = n;
  cache.labels_hash = labels;
  cache.k = sh.k;
  cache.kp = Kp;
  cache.policy = &kPolicyTag<Policy>;
  cache.dim = sh.dim;
  cache.bias = sh.bias;
  cache.bias_value = sh.bias_value;
  cache.data = &data;
  return cache.coef.data();
}

template <class Policy, bool kDense, int Kp>
void BlockedHessianKernel(const Shape& sh, const Dataset& data, const double* w, const double* v,
                          double* out) {
  const std::int64_t n = data.rows();
  const std::size_t stride = static_cast<std::size_t>(sh.dim) * Kp;
  const bool avx2 = UseAvx2();
  const double* coef = HessianCoefficients<Policy, kDense, Kp>(
      sh, data, w, static_cast<std::size_t>(sh.k) * static_cast<std::size_t>(sh.dim), avx2);
  const int threads = internal::ThreadsForSums(n, data, stride);
  thread_local internal::LayoutTrial trial;
  trial.Run(
      !kDense, stride, threads, internal::PassNonzeros(n, data),
      [&] {
        const internal::PairedVectors p(sh, Kp, v);
        BlockedHessRows<Policy, kDense, Kp, true>(sh, data, coef, p.inputs(), p.sums(), 0, n, avx2);
        p.AddInto(out);
      },
      [&] {
        const double* vt = Transposed(sh, Kp, v, Slot::kVector);
        const PartialSums parts(stride, threads, Kp == 1, out);
        const int used =
            internal::ParallelRowBlocks(n, threads, [&](int t, std::int64_t b, std::int64_t e) {
              BlockedHessRows<Policy, kDense, Kp, false>(sh, data, coef, vt, parts.For(t), b, e,
                                                         avx2);
            });
        parts.AddTransposedInto(sh, Kp, used);
      });
}

// ---- The Hessian's diagonal (tron's preconditioner) ----
//
// diag(H)_{o,j} = sum_r (H_r)_{oo} x_rj^2 with H_r the example's Hessian in s-space. Its
// diagonal is read off the policy's own HessCoef / HessApply on unit vectors (K products of
// K values per row, nothing loss-specific here), so every policy with a Hessian-vector
// product has a diagonal.
template <class Policy>
RINGTRAIN_ALWAYS_INLINE void RowDiagonal(const double* coef, int k, double* unit, double* tmp,
                                         double* diag) {
  for (int o = 0; o < k; ++o) {
    unit[o] = 1.0;
    Policy::HessApply(coef, unit, k, tmp);
    unit[o] = 0.0;
    diag[o] = tmp[o];
  }
}

// g_o[j] += diag[o] * x_j^2 (and the bias), the squares' counterpart of Scatter.
template <bool kDense>
RINGTRAIN_ALWAYS_INLINE void ScatterSquares(const Shape& sh, const internal::Row& row,
                                            const double* diag, double* g) {
  for (int o = 0; o < sh.k; ++o) {
    const double a = diag[o];
    if (a == 0.0) continue;
    double* go = g + o * sh.dim;
    for (std::int64_t q = 0; q < row.nnz; ++q) {
      const double x = static_cast<double>(row.x[q]);
      go[kDense ? q : row.idx[q]] += a * x * x;
    }
    if (sh.bias) go[sh.nf] += a * sh.bias_value * sh.bias_value;
  }
}

// Plain path: the decisions at w per row (like HessianKernel), then the diagonal.
template <class Policy, bool kDense>
void DiagonalKernel(const Shape& sh, const Dataset& data, const double* w, double* out) {
  const std::int64_t n = data.rows();
  const std::size_t nw = static_cast<std::size_t>(sh.k * sh.dim);
  const int threads = internal::ThreadsForSums(n, data, nw);
  const PartialSums parts(nw, threads, true, out);
  const int used =
      internal::ParallelRowBlocks(n, threads, [&](int t, std::int64_t b, std::int64_t e) {
        const std::size_t k = static_cast<std::size_t>(sh.k);
        std::vector<double> s(k), coef(k), unit(k, 0.0), tmp(k), diag(k);
        double* g = parts.For(t);
        for (std::int64_t r = b; r < e; ++r) {
          const internal::Row row = GetRow<kDense>(data, r, sh.nf);
          internal::Decisions<kDense>(sh, row, w, s.data());
          const auto c = Policy::Target(data, r, sh);
          Policy::HessCoef(s.data(), sh.k, c, coef.data());
          RowDiagonal<Policy>(coef.data(), sh.k, unit.data(), tmp.data(), diag.data());
          internal::OwnClass<Policy>(data, c, nullptr, sh.k, 0.0, diag.data());
          internal::Weighted(internal::RowWeight(data, r), 0.0, diag.data(), sh.k);
          ScatterSquares<kDense>(sh, row, diag.data(), g);
        }
      });
  parts.AddInto(used);
}

// Blocked path: the cached per-row coefficients at w (shared with the Hessian-vector
// products that follow at the same w), feature-major per-thread buffers.
template <class Policy, bool kDense, int Kp>
void BlockedDiagonalKernel(const Shape& sh, const Dataset& data, const double* w, double* out) {
  const std::int64_t n = data.rows();
  const std::size_t stride = static_cast<std::size_t>(sh.dim) * Kp;
  const double* coef = HessianCoefficients<Policy, kDense, Kp>(
      sh, data, w, static_cast<std::size_t>(sh.k) * static_cast<std::size_t>(sh.dim), UseAvx2());
  const int threads = internal::ThreadsForSums(n, data, stride);
  const PartialSums parts(stride, threads, Kp == 1, out);
  const int used =
      internal::ParallelRowBlocks(n, threads, [&](int t, std::int64_t b, std::int64_t e) {
        double* gt = parts.For(t);
        const int k = Kp == 1 ? 1 : sh.k;
        const std::int64_t bias_at = sh.nf * Kp;
        double unit[Kp] = {}, tmp[Kp] = {}, diag[Kp] = {};
        for (std::int64_t r = b; r < e; ++r) {
          const double* cr = coef + r * Kp;
          if (AllZero<Kp>(cr)) continue;
          RowDiagonal<Policy>(cr, k, unit, tmp, diag);
          internal::OwnClass<Policy>(data, Policy::Target(data, r, sh), nullptr, k, 0.0, diag);
          internal::Weighted(internal::RowWeight(data, r), 0.0, diag, k);
          const internal::Row row = GetRow<kDense>(data, r, sh.nf);
          for (std::int64_t q = 0; q < row.nnz; ++q) {
            const double x = static_cast<double>(row.x[q]);
            double* gj = gt + (kDense ? q : row.idx[q]) * Kp;
            for (int o = 0; o < k; ++o) gj[o] += diag[o] * x * x;
          }
          if (sh.bias)
            for (int o = 0; o < k; ++o) gt[bias_at + o] += diag[o] * sh.bias_value * sh.bias_value;
        }
      });
  parts.AddTransposedInto(sh, Kp, used);
}

}  // namespace

void HessianVectorSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                      std::span<const double> v, std::span<double> out) {
  CheckInputs(spec, data, w.size(), {});
  if (!Info(spec.loss).has_hessian) {
    throw UsageError("the " + ToString(spec.loss) + " loss has no Hessian", "HessianVectorSum",
                     "use a loss with a Hessian (docs/training.md) with a Newton optimizer");
  }
  if (v.size() != w.size() || out.size() != w.size()) {
    throw UsageError("v/out sizes differ from the weights", "HessianVectorSum",
                     "size them as ModelSpec::num_weights()");
  }
  const Shape sh = internal::ShapeOf(spec);
  Dispatch(spec, data, [&]<class P, bool kDense>() {
    if constexpr (P::kHasCurvature) {
      const bool blocked = ByBlockWidth<!kSoftmax<P>>(sh.k, kDense, [&](auto kp) {
        BlockedHessianKernel<P, kDense, decltype(kp)::value>(sh, data, w.data(), v.data(),
                                                             out.data());
      });
      if (!blocked) HessianKernel<P, kDense>(sh, data, w.data(), v.data(), out.data());
    }
  });
}

void HessianDiagonalSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                        std::span<double> out) {
  CheckInputs(spec, data, w.size(), {});
  if (spec.loss == Loss::kHinge) {
    throw UsageError("the hinge loss has no Hessian", "HessianDiagonalSum",
                     "use squared_hinge or logistic with a Newton optimizer");
  }
  if (out.size() != w.size()) {
    throw UsageError("out's size differs from the weights", "HessianDiagonalSum",
                     "size it as ModelSpec::num_weights()");
  }
  const Shape sh = internal::ShapeOf(spec);
  Dispatch(spec, data, [&]<class P, bool kDense>() {
    if constexpr (P::kHasCurvature) {
      const bool blocked = ByBlockWidth<!kSoftmax<P>>(sh.k, kDense, [&](auto kp) {
        BlockedDiagonalKernel<P, kDense, decltype(kp)::value>(sh, data, w.data(), out.data());
      });
      if (!blocked) DiagonalKernel<P, kDense>(sh, data, w.data(), out.data());
    }
  });
}

}  // namespace ringtrain::models
