// models/gradient.cc — LossGradientSum and HessianVectorSum over one shard.
//
// One kernel template per (row policy, storage): the loss is a template parameter, so the
// per-example loop has no virtual call. Rows are split over OpenMP threads in contiguous
// blocks (kernels.h); per-thread partial sums are added in thread order, so a fixed thread
// count gives bit-identical results.
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "common/error.h"
#include "models/kernels.h"
#include "models/linear_model.h"
#include "models/losses.h"

namespace ringtrain::models {
namespace {

using internal::GetRow;
using internal::Shape;

void CheckInputs(const ModelSpec& spec, const Dataset& data, std::size_t w_size,
                 std::span<const std::int64_t> rows) {
  if (spec.classes.size() < 2) {
    throw UsageError("a model needs at least 2 classes, got " + std::to_string(spec.classes.size()),
                     "ModelSpec", "check the training labels");
  }
  if (spec.multiclass == Multiclass::kMultinomial && spec.loss != Loss::kLogistic) {
    throw UsageError("multinomial needs the logistic loss, not " + ToString(spec.loss),
                     "--multiclass", "use --multiclass ovr with SVM losses");
  }
  if (w_size != static_cast<std::size_t>(spec.num_weights())) {
    throw UsageError("weight vector has " + std::to_string(w_size) + " entries, the model " +
                         std::to_string(spec.num_weights()),
                     "LossGradientSum", "size weights as ModelSpec::num_weights()");
  }
  if (data.class_index.size() != data.labels.size()) {
    throw UsageError("AssignClasses has not run on this dataset", "LossGradientSum",
                     "call AssignClasses with the agreed classes first");
  }
  for (std::int64_t r : rows) {
    if (r < 0 || r >= data.rows()) {
      throw UsageError("row index " + std::to_string(r) + " outside the shard's " +
                           std::to_string(data.rows()) + " rows",
                       "LossGradientSum", "pass indices into the shard");
    }
  }
}

// Sums over the rows; grad may be null (loss only).
template <class Policy, bool kDense>
double GradientKernel(const Shape& sh, const Dataset& data, const double* w, double* grad,
                      std::span<const std::int64_t> rows) {
  const bool subset = !rows.empty();
  const std::int64_t n = subset ? static_cast<std::int64_t>(rows.size()) : data.rows();
  const std::size_t nw = static_cast<std::size_t>(sh.k * sh.dim);
  const int threads = internal::ThreadsFor(n);
  std::vector<double> loss_part(static_cast<std::size_t>(threads), 0.0);
  std::vector<double> grad_part(grad != nullptr ? nw * static_cast<std::size_t>(threads) : 0);
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = internal::ThreadNum();
    const int nt = internal::NumThreads();
    if (t == 0) used = nt;
    const std::int64_t b = n * t / nt, e = n * (t + 1) / nt;
    std::vector<double> s(static_cast<std::size_t>(sh.k)), d(static_cast<std::size_t>(sh.k));
    double* g = grad != nullptr ? grad_part.data() + nw * static_cast<std::size_t>(t) : nullptr;
    double loss = 0;
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t r = subset ? rows[static_cast<std::size_t>(i)] : i;
      const internal::Row row = GetRow<kDense>(data, r, sh.nf);
      internal::Decisions<kDense>(sh, row, w, s.data());
      const std::int32_t c = data.class_index[static_cast<std::size_t>(r)];
      if (g != nullptr) {
        loss += Policy::Row(s.data(), sh.k, c, d.data());
        internal::Scatter<kDense>(sh, row, d.data(), g);
      } else {
        loss += Policy::Loss(s.data(), sh.k, c);
      }
    }
    loss_part[static_cast<std::size_t>(t)] = loss;
  }
  double loss = 0;
  for (int t = 0; t < used; ++t) loss += loss_part[static_cast<std::size_t>(t)];
  if (grad != nullptr) {
    for (std::size_t j = 0; j < nw; ++j) {
      double acc = grad_part[j];
      for (int t = 1; t < used; ++t) acc += grad_part[nw * static_cast<std::size_t>(t) + j];
      grad[j] += acc;
    }
  }
  return loss;
}

template <class Policy, bool kDense>
void HessianKernel(const Shape& sh, const Dataset& data, const double* w, const double* v,
                   double* out) {
  const std::int64_t n = data.rows();
  const std::size_t nw = static_cast<std::size_t>(sh.k * sh.dim);
  const int threads = internal::ThreadsFor(n);
  std::vector<double> part(nw * static_cast<std::size_t>(threads), 0.0);
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = internal::ThreadNum();
    const int nt = internal::NumThreads();
    if (t == 0) used = nt;
    const std::int64_t b = n * t / nt, e = n * (t + 1) / nt;
    const std::size_t k = static_cast<std::size_t>(sh.k);
    std::vector<double> s(k), u(k), hu(k);
    double* g = part.data() + nw * static_cast<std::size_t>(t);
    for (std::int64_t r = b; r < e; ++r) {
      const internal::Row row = GetRow<kDense>(data, r, sh.nf);
      internal::Decisions<kDense>(sh, row, w, s.data());
      internal::Decisions<kDense>(sh, row, v, u.data());
      Policy::HessVec(s.data(), u.data(), sh.k, data.class_index[static_cast<std::size_t>(r)],
                      hu.data());
      internal::Scatter<kDense>(sh, row, hu.data(), g);
    }
  }
  for (std::size_t j = 0; j < nw; ++j) {
    double acc = part[j];
    for (int t = 1; t < used; ++t) acc += part[nw * static_cast<std::size_t>(t) + j];
    out[j] += acc;
  }
}

// ---- Class-blocked path (2 <= K <= 16 outputs; kernels.h) ----

#if defined(__GNUC__) && defined(__x86_64__)
#define RINGTRAIN_AVX2_PATH 1
#define RINGTRAIN_TARGET_AVX2 __attribute__((target("avx2,fma"), flatten))
// The AVX2+FMA code path is taken iff this CPU has both; the answer never changes within a
// machine, so a machine always takes the same path (and gets the same bits).
bool UseAvx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#else
bool UseAvx2() { return false; }
#endif

// Feature-major copy of output-major weights: wt[j * Kp + o] = w[o * dim + j], padding 0.
std::vector<double> Transpose(const Shape& sh, int kp, const double* w) {
  const auto dim = static_cast<std::size_t>(sh.dim), ukp = static_cast<std::size_t>(kp);
  std::vector<double> wt(dim * ukp, 0.0);
  for (std::size_t o = 0; o < static_cast<std::size_t>(sh.k); ++o)
    for (std::size_t j = 0; j < dim; ++j) wt[j * ukp + o] = w[o * dim + j];
  return wt;
}

// Sums of per-thread feature-major buffers in thread order, added into output-major out.
void AddTransposedParts(const Shape& sh, int kp, const std::vector<double>& parts, int used,
                        double* out) {
  const auto dim = static_cast<std::size_t>(sh.dim), ukp = static_cast<std::size_t>(kp);
  const std::size_t stride = dim * ukp;
  for (std::size_t o = 0; o < static_cast<std::size_t>(sh.k); ++o) {
    for (std::size_t j = 0; j < dim; ++j) {
      double acc = parts[j * ukp + o];
      for (int t = 1; t < used; ++t)
        acc += parts[stride * static_cast<std::size_t>(t) + j * ukp + o];
      out[o * dim + j] += acc;
    }
  }
}

template <int Kp>
RINGTRAIN_ALWAYS_INLINE bool AllZero(const double* d) {
  bool zero = true;
  for (int q = 0; q < Kp; ++q) zero = zero && d[q] == 0.0;
  return zero;
}

// Rows [b, e) of the shard (or of `rows`): loss sum; gradient into gt (feature-major) if set.
template <class Policy, bool kDense, int Kp, bool kFma>
RINGTRAIN_ALWAYS_INLINE double BlockedGradRange(const Shape& sh, const Dataset& data,
                                                const double* wt, double* gt,
                                                std::span<const std::int64_t> rows, std::int64_t b,
                                                std::int64_t e) {
  alignas(64) double s[Kp];
  alignas(64) double d[Kp];
  const double* wb = wt + sh.nf * Kp;  // bias weights (if sh.bias)
  double loss = 0;
  for (std::int64_t i = b; i < e; ++i) {
    const std::int64_t r = rows.empty() ? i : rows[static_cast<std::size_t>(i)];
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots<Kp, kDense, kFma>(row, wt, s);
    if (sh.bias)
      for (int o = 0; o < sh.k; ++o) s[o] += wb[o] * sh.bias_value;
    const std::int32_t c = data.class_index[static_cast<std::size_t>(r)];
    if (gt == nullptr) {
      loss += Policy::Loss(s, sh.k, c);
      continue;
    }
    loss += Policy::Row(s, sh.k, c, d);
    for (int o = sh.k; o < Kp; ++o) d[o] = 0.0;
    if (AllZero<Kp>(d)) continue;
    internal::BlockedScatter<Kp, kDense, kFma>(row, d, gt);
    if (sh.bias)
      for (int o = 0; o < sh.k; ++o) gt[sh.nf * Kp + o] += d[o] * sh.bias_value;
  }
  return loss;
}

template <class Policy, bool kDense, int Kp, bool kFma>
RINGTRAIN_ALWAYS_INLINE void BlockedHessRange(const Shape& sh, const Dataset& data,
                                              const double* wt, const double* vt, double* gt,
                                              std::int64_t b, std::int64_t e) {
  alignas(64) double s[Kp];
  alignas(64) double u[Kp];
  alignas(64) double hu[Kp];
  const std::int64_t bias_at = sh.nf * Kp;
  for (std::int64_t r = b; r < e; ++r) {
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots2<Kp, kDense, kFma>(row, wt, vt, s, u);
    if (sh.bias) {
      for (int o = 0; o < sh.k; ++o) {
        s[o] += wt[bias_at + o] * sh.bias_value;
        u[o] += vt[bias_at + o] * sh.bias_value;
      }
    }
    Policy::HessVec(s, u, sh.k, data.class_index[static_cast<std::size_t>(r)], hu);
    for (int o = sh.k; o < Kp; ++o) hu[o] = 0.0;
    if (AllZero<Kp>(hu)) continue;
    internal::BlockedScatter<Kp, kDense, kFma>(row, hu, gt);
    if (sh.bias)
      for (int o = 0; o < sh.k; ++o) gt[bias_at + o] += hu[o] * sh.bias_value;
  }
}

template <class Policy, bool kDense, int Kp>
__attribute__((flatten)) double BlockedGradBase(const Shape& sh, const Dataset& data,
                                                const double* wt, double* gt,
                                                std::span<const std::int64_t> rows, std::int64_t b,
                                                std::int64_t e) {
  return BlockedGradRange<Policy, kDense, Kp, false>(sh, data, wt, gt, rows, b, e);
}
template <class Policy, bool kDense, int Kp>
__attribute__((flatten)) void BlockedHessBase(const Shape& sh, const Dataset& data,
                                              const double* wt, const double* vt, double* gt,
                                              std::int64_t b, std::int64_t e) {
  BlockedHessRange<Policy, kDense, Kp, false>(sh, data, wt, vt, gt, b, e);
}
#ifdef RINGTRAIN_AVX2_PATH
template <class Policy, bool kDense, int Kp>
RINGTRAIN_TARGET_AVX2 double BlockedGradAvx2(const Shape& sh, const Dataset& data, const double* wt,
                                             double* gt, std::span<const std::int64_t> rows,
                                             std::int64_t b, std::int64_t e) {
  return BlockedGradRange<Policy, kDense, Kp, true>(sh, data, wt, gt, rows, b, e);
}
template <class Policy, bool kDense, int Kp>
RINGTRAIN_TARGET_AVX2 void BlockedHessAvx2(const Shape& sh, const Dataset& data, const double* wt,
                                           const double* vt, double* gt, std::int64_t b,
                                           std::int64_t e) {
  BlockedHessRange<Policy, kDense, Kp, true>(sh, data, wt, vt, gt, b, e);
}
#endif

template <class Policy, bool kDense, int Kp>
double BlockedGradientKernel(const Shape& sh, const Dataset& data, const double* w, double* grad,
                             std::span<const std::int64_t> rows) {
  const std::int64_t n = rows.empty() ? data.rows() : static_cast<std::int64_t>(rows.size());
  const std::size_t stride = static_cast<std::size_t>(sh.dim) * Kp;
  const int threads = internal::ThreadsFor(n);
  const std::vector<double> wt = Transpose(sh, Kp, w);
  std::vector<double> loss_part(static_cast<std::size_t>(threads), 0.0);
  std::vector<double> parts(grad != nullptr ? stride * static_cast<std::size_t>(threads) : 0, 0.0);
  const bool avx2 = UseAvx2();
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = internal::ThreadNum();
    const int nt = internal::NumThreads();
    if (t == 0) used = nt;
    const std::int64_t b = n * t / nt, e = n * (t + 1) / nt;
    double* gt = grad != nullptr ? parts.data() + stride * static_cast<std::size_t>(t) : nullptr;
    double loss = 0;
#ifdef RINGTRAIN_AVX2_PATH
    if (avx2) {
      loss = BlockedGradAvx2<Policy, kDense, Kp>(sh, data, wt.data(), gt, rows, b, e);
    } else {
      loss = BlockedGradBase<Policy, kDense, Kp>(sh, data, wt.data(), gt, rows, b, e);
    }
#else
    (void)avx2;
    loss = BlockedGradBase<Policy, kDense, Kp>(sh, data, wt.data(), gt, rows, b, e);
#endif
    loss_part[static_cast<std::size_t>(t)] = loss;
  }
  double loss = 0;
  for (int t = 0; t < used; ++t) loss += loss_part[static_cast<std::size_t>(t)];
  if (grad != nullptr) AddTransposedParts(sh, Kp, parts, used, grad);
  return loss;
}

template <class Policy, bool kDense, int Kp>
void BlockedHessianKernel(const Shape& sh, const Dataset& data, const double* w, const double* v,
                          double* out) {
  const std::int64_t n = data.rows();
  const std::size_t stride = static_cast<std::size_t>(sh.dim) * Kp;
  const int threads = internal::ThreadsFor(n);
  const std::vector<double> wt = Transpose(sh, Kp, w), vt = Transpose(sh, Kp, v);
  std::vector<double> parts(stride * static_cast<std::size_t>(threads), 0.0);
  const bool avx2 = UseAvx2();
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = internal::ThreadNum();
    const int nt = internal::NumThreads();
    if (t == 0) used = nt;
    const std::int64_t b = n * t / nt, e = n * (t + 1) / nt;
    double* gt = parts.data() + stride * static_cast<std::size_t>(t);
#ifdef RINGTRAIN_AVX2_PATH
    if (avx2) {
      BlockedHessAvx2<Policy, kDense, Kp>(sh, data, wt.data(), vt.data(), gt, b, e);
    } else {
      BlockedHessBase<Policy, kDense, Kp>(sh, data, wt.data(), vt.data(), gt, b, e);
    }
#else
    (void)avx2;
    BlockedHessBase<Policy, kDense, Kp>(sh, data, wt.data(), vt.data(), gt, b, e);
#endif
  }
  AddTransposedParts(sh, Kp, parts, used, out);
}

// Calls fn(std::integral_constant<int, Kp>) for K outputs rounded up to 4, 8, 12 or 16;
// returns false (and does not call) for K == 1 or K > 16.
template <class Fn>
bool ByBlockWidth(int k, Fn&& fn) {
  if (k < 2 || k > 16) return false;
  switch ((k + 3) / 4) {
    case 1:
      fn(std::integral_constant<int, 4>{});
      break;
    case 2:
      fn(std::integral_constant<int, 8>{});
      break;
    case 3:
      fn(std::integral_constant<int, 12>{});
      break;
    default:
      fn(std::integral_constant<int, 16>{});
      break;
  }
  return true;
}

// Calls fn.template operator()<Policy, kDense>() for the spec's loss/multiclass and storage.
template <class Fn>
auto Dispatch(const ModelSpec& spec, const Dataset& data, Fn&& fn) {
  const bool dense = data.is_dense();
  auto by_storage = [&]<class P>() {
    return dense ? fn.template operator()<P, true>() : fn.template operator()<P, false>();
  };
  if (spec.multiclass == Multiclass::kMultinomial && spec.num_outputs() > 1) {
    return by_storage.template operator()<internal::SoftmaxPolicy>();
  }
  switch (spec.loss) {
    case Loss::kHinge:
      return by_storage.template operator()<internal::OvrPolicy<internal::HingeLoss>>();
    case Loss::kSquaredHinge:
      return by_storage.template operator()<internal::OvrPolicy<internal::SquaredHingeLoss>>();
    case Loss::kLogistic:
      break;
  }
  return by_storage.template operator()<internal::OvrPolicy<internal::LogisticLoss>>();
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
    const bool blocked = ByBlockWidth(sh.k, [&](auto kp) {
      loss = BlockedGradientKernel<P, kDense, decltype(kp)::value>(sh, data, w.data(), g, rows);
    });
    return blocked ? loss : GradientKernel<P, kDense>(sh, data, w.data(), g, rows);
  });
}

void HessianVectorSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                      std::span<const double> v, std::span<double> out) {
  CheckInputs(spec, data, w.size(), {});
  if (spec.loss == Loss::kHinge) {
    throw UsageError("the hinge loss has no Hessian", "HessianVectorSum",
                     "use squared_hinge or logistic with a Newton optimizer");
  }
  if (v.size() != w.size() || out.size() != w.size()) {
    throw UsageError("v/out sizes differ from the weights", "HessianVectorSum",
                     "size them as ModelSpec::num_weights()");
  }
  const Shape sh = internal::ShapeOf(spec);
  Dispatch(spec, data, [&]<class P, bool kDense>() {
    if constexpr (P::kHasCurvature) {
      const bool blocked = ByBlockWidth(sh.k, [&](auto kp) {
        BlockedHessianKernel<P, kDense, decltype(kp)::value>(sh, data, w.data(), v.data(),
                                                             out.data());
      });
      if (!blocked) HessianKernel<P, kDense>(sh, data, w.data(), v.data(), out.data());
    }
  });
}

}  // namespace ringtrain::models
