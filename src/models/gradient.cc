// models/gradient.cc — LossGradientSum and HessianVectorSum over one shard.
//
// One kernel template per (row policy, storage): the loss is a template parameter, so the
// per-example loop has no virtual call. Rows are split over OpenMP threads in contiguous
// blocks (kernels.h); per-thread partial sums are added in thread order, so a fixed thread
// count gives bit-identical results.
#include <cstdint>
#include <cstring>
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
  const int k = Kp == 1 ? 1 : sh.k;  // (tells the compiler k <= Kp when Kp == 1)
  alignas(64) double s[Kp] = {};
  alignas(64) double d[Kp] = {};
  const double* wb = wt + sh.nf * Kp;  // bias weights (if sh.bias)
  double loss = 0;
  for (std::int64_t i = b; i < e; ++i) {
    const std::int64_t r = rows.empty() ? i : rows[static_cast<std::size_t>(i)];
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots<Kp, kDense, kFma>(row, wt, s);
    if (sh.bias)
      for (int o = 0; o < k; ++o) s[o] += wb[o] * sh.bias_value;
    const std::int32_t c = data.class_index[static_cast<std::size_t>(r)];
    if (gt == nullptr) {
      loss += Policy::Loss(s, k, c);
      continue;
    }
    loss += Policy::Row(s, k, c, d);
    for (int o = k; o < Kp; ++o) d[o] = 0.0;
    if (AllZero<Kp>(d)) continue;
    internal::BlockedScatter<Kp, kDense, kFma>(row, d, gt);
    if (sh.bias)
      for (int o = 0; o < k; ++o) gt[sh.nf * Kp + o] += d[o] * sh.bias_value;
  }
  return loss;
}

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
    Policy::HessCoef(s, k, data.class_index[static_cast<std::size_t>(r)], cr);
  }
}

// gt += sum_r x_r (H_r (V x_r)) over rows [b, e), H_r from the cached coefficients; rows
// with zero curvature (squared hinge outside the margin) cost nothing.
template <class Policy, bool kDense, int Kp, bool kFma>
RINGTRAIN_ALWAYS_INLINE void BlockedHessRange(const Shape& sh, const Dataset& data,
                                              const double* coef, const double* vt, double* gt,
                                              std::int64_t b, std::int64_t e) {
  const int k = Kp == 1 ? 1 : sh.k;
  alignas(64) double u[Kp] = {};
  alignas(64) double hu[Kp] = {};
  const std::int64_t bias_at = sh.nf * Kp;
  for (std::int64_t r = b; r < e; ++r) {
    const double* cr = coef + r * Kp;
    if (AllZero<Kp>(cr)) continue;
    const internal::Row row = GetRow<kDense>(data, r, sh.nf);
    internal::BlockedDots<Kp, kDense, kFma>(row, vt, u);
    if (sh.bias)
      for (int o = 0; o < k; ++o) u[o] += vt[bias_at + o] * sh.bias_value;
    Policy::HessApply(cr, u, k, hu);
    for (int o = k; o < Kp; ++o) hu[o] = 0.0;
    if (AllZero<Kp>(hu)) continue;
    internal::BlockedScatter<Kp, kDense, kFma>(row, hu, gt);
    if (sh.bias)
      for (int o = 0; o < k; ++o) gt[bias_at + o] += hu[o] * sh.bias_value;
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
                                              const double* coef, const double* vt, double* gt,
                                              std::int64_t b, std::int64_t e) {
  BlockedHessRange<Policy, kDense, Kp, false>(sh, data, coef, vt, gt, b, e);
}
template <class Policy, bool kDense, int Kp>
__attribute__((flatten)) void BlockedCoefBase(const Shape& sh, const Dataset& data,
                                              const double* wt, double* coef, std::int64_t b,
                                              std::int64_t e) {
  BlockedCoefRange<Policy, kDense, Kp, false>(sh, data, wt, coef, b, e);
}
#ifdef RINGTRAIN_AVX2_PATH
template <class Policy, bool kDense, int Kp>
RINGTRAIN_TARGET_AVX2 double BlockedGradAvx2(const Shape& sh, const Dataset& data, const double* wt,
                                             double* gt, std::span<const std::int64_t> rows,
                                             std::int64_t b, std::int64_t e) {
  return BlockedGradRange<Policy, kDense, Kp, true>(sh, data, wt, gt, rows, b, e);
}
template <class Policy, bool kDense, int Kp>
RINGTRAIN_TARGET_AVX2 void BlockedHessAvx2(const Shape& sh, const Dataset& data, const double* coef,
                                           const double* vt, double* gt, std::int64_t b,
                                           std::int64_t e) {
  BlockedHessRange<Policy, kDense, Kp, true>(sh, data, coef, vt, gt, b, e);
}
template <class Policy, bool kDense, int Kp>
RINGTRAIN_TARGET_AVX2 void BlockedCoefAvx2(const Shape& sh, const Dataset& data, const double* wt,
                                           double* coef, std::int64_t b, std::int64_t e) {
  BlockedCoefRange<Policy, kDense, Kp, true>(sh, data, wt, coef, b, e);
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

// The per-row Hessian coefficients at one w, kept per calling thread: trust-region Newton
// calls HessianVectorSum many times at the same w (one per CG step), so the K dot products
// with w and the curvatures are computed once per w, not once per product. The key is
// everything the coefficients depend on: the dataset's identity and storage, the labels
// (hashed), the model shape and the exact bits of w. (A dataset mutated in place without
// moving its storage, at bit-identical w, would be missed; nothing does that.)
struct HessianCache {
  const Dataset* data = nullptr;
  const void* storage = nullptr;
  std::int64_t rows = -1;
  std::uint64_t labels_hash = 0;
  int k = 0;
  int kp = 0;
  int policy = -1;
  std::int64_t dim = 0;
  bool bias = false;
  double bias_value = 0;
  std::vector<double> w;
  std::vector<double> coef;
};

std::uint64_t LabelsHash(const Dataset& data) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the class indices
  for (std::int32_t c : data.class_index) {
    h ^= static_cast<std::uint32_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

template <class Policy>
constexpr int PolicyId() {
  if constexpr (std::is_same_v<Policy, internal::SoftmaxPolicy>) return 0;
  if constexpr (std::is_same_v<Policy, internal::OvrPolicy<internal::LogisticLoss>>) return 1;
  if constexpr (std::is_same_v<Policy, internal::OvrPolicy<internal::SquaredHingeLoss>>) return 2;
  return 3;
}

template <class Policy, bool kDense, int Kp>
const double* HessianCoefficients(const Shape& sh, const Dataset& data, const double* w,
                                  std::size_t nw, bool avx2) {
  thread_local HessianCache cache;
  const void* storage = kDense ? static_cast<const void*>(data.dense.data())
                               : static_cast<const void*>(data.val.data());
  const std::uint64_t labels = LabelsHash(data);
  const bool hit = cache.data == &data && cache.storage == storage && cache.rows == data.rows() &&
                   cache.labels_hash == labels && cache.k == sh.k && cache.kp == Kp &&
                   cache.policy == PolicyId<Policy>() && cache.dim == sh.dim &&
                   cache.bias == sh.bias && cache.bias_value == sh.bias_value &&
                   cache.w.size() == nw && std::memcmp(cache.w.data(), w, nw * sizeof(double)) == 0;
  if (hit) return cache.coef.data();
  const std::int64_t n = data.rows();
  cache.data = nullptr;  // invalid while refilling (an exception leaves it invalid)
  cache.coef.assign(static_cast<std::size_t>(n) * Kp, 0.0);
  const std::vector<double> wt = Transpose(sh, Kp, w);
  double* coef = cache.coef.data();
  [[maybe_unused]] const int threads = internal::ThreadsFor(n);  // (no OpenMP: unused)
#pragma omp parallel num_threads(threads)
  {
    const int t = internal::ThreadNum();
    const int nt = internal::NumThreads();
    const std::int64_t b = n * t / nt, e = n * (t + 1) / nt;
#ifdef RINGTRAIN_AVX2_PATH
    if (avx2) {
      BlockedCoefAvx2<Policy, kDense, Kp>(sh, data, wt.data(), coef, b, e);
    } else {
      BlockedCoefBase<Policy, kDense, Kp>(sh, data, wt.data(), coef, b, e);
    }
#else
    (void)avx2;
    BlockedCoefBase<Policy, kDense, Kp>(sh, data, wt.data(), coef, b, e);
#endif
  }
  cache.w.assign(w, w + nw);
  cache.storage = storage;
  cache.rows = n;
  cache.labels_hash = labels;
  cache.k = sh.k;
  cache.kp = Kp;
  cache.policy = PolicyId<Policy>();
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
  const int threads = internal::ThreadsFor(n);
  const std::vector<double> vt = Transpose(sh, Kp, v);
  std::vector<double> parts(stride * static_cast<std::size_t>(threads), 0.0);
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
      BlockedHessAvx2<Policy, kDense, Kp>(sh, data, coef, vt.data(), gt, b, e);
    } else {
      BlockedHessBase<Policy, kDense, Kp>(sh, data, coef, vt.data(), gt, b, e);
    }
#else
    BlockedHessBase<Policy, kDense, Kp>(sh, data, coef, vt.data(), gt, b, e);
#endif
  }
  AddTransposedParts(sh, Kp, parts, used, out);
}

// Softmax always has K >= 2 outputs (two classes are binary logistic).
template <class P>
constexpr bool kSoftmax = std::is_same_v<P, internal::SoftmaxPolicy>;

// Calls fn(std::integral_constant<int, Kp>) for K outputs rounded up to 4, 8, 12 or 16, and
// Kp = 1 for one output on CSR storage (a gather per nonzero either way; the blocked form
// adds the cached Hessian coefficients). Returns false (and does not call) for one dense
// output (the plain kernel vectorises along the row) and for K > 16.
template <bool kAllowOne, class Fn>
bool ByBlockWidth(int k, bool dense, Fn&& fn) {
  if constexpr (kAllowOne) {
    if (k == 1 && !dense) {
      fn(std::integral_constant<int, 1>{});
      return true;
    }
  }
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
    const bool blocked = ByBlockWidth<!kSoftmax<P>>(sh.k, kDense, [&](auto kp) {
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
      const bool blocked = ByBlockWidth<!kSoftmax<P>>(sh.k, kDense, [&](auto kp) {
        BlockedHessianKernel<P, kDense, decltype(kp)::value>(sh, data, w.data(), v.data(),
                                                             out.data());
      });
      if (!blocked) HessianKernel<P, kDense>(sh, data, w.data(), v.data(), out.data());
    }
  });
}

}  // namespace ringtrain::models
