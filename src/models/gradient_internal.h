// models/gradient_internal.h — internal: what gradient.cc (LossGradientSum) and hessian.cc
// (HessianVectorSum) share: the input checks, the choice of the AVX2+FMA code path, the
// feature-major transposes of the class-blocked kernels, and the dispatch on (row policy,
// storage, block width). Header-only; the AVX2 macros below are used by both .cc files.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/huge_pages.h"
#include "models/kernels.h"
#include "models/linear_model.h"
#include "models/losses.h"

namespace ringtrain::models::internal {

inline void CheckInputs(const ModelSpec& spec, const Dataset& data, std::size_t w_size,
                        std::span<const std::int64_t> rows) {
  if (!IsLossCode(static_cast<std::uint32_t>(spec.loss))) {
    throw UsageError("unknown loss code " + std::to_string(static_cast<std::uint32_t>(spec.loss)),
                     "ModelSpec", "use one of " + LossNames());
  }
  if (spec.multiclass == Multiclass::kMultinomial && !Info(spec.loss).multinomial) {
    throw UsageError("multinomial needs the logistic loss, not " + ToString(spec.loss),
                     "--multiclass", "use --multiclass ovr with SVM losses");
  }
  if (!spec.regression() && spec.classes.size() < 2) {
    throw UsageError("a model needs at least 2 classes, got " + std::to_string(spec.classes.size()),
                     "ModelSpec", "check the training labels");
  }
  if (w_size != static_cast<std::size_t>(spec.num_weights())) {
    throw UsageError("weight vector has " + std::to_string(w_size) + " entries, the model " +
                         std::to_string(spec.num_weights()),
                     "LossGradientSum", "size weights as ModelSpec::num_weights()");
  }
  if (!spec.regression() && data.class_index.size() != data.labels.size()) {
    throw UsageError("AssignClasses has not run on this dataset", "LossGradientSum",
                     "call AssignClasses with the agreed classes first");
  }
  if (!data.row_weight.empty() && data.row_weight.size() != data.labels.size()) {
    throw UsageError("the shard has " + std::to_string(data.row_weight.size()) +
                         " row weights for " + std::to_string(data.labels.size()) + " rows",
                     "LossGradientSum", "give one weight per row (or none)");
  }
  for (std::int64_t r : rows) {
    if (r < 0 || r >= data.rows()) {
      throw UsageError("row index " + std::to_string(r) + " outside the shard's " +
                           std::to_string(data.rows()) + " rows",
                       "LossGradientSum", "pass indices into the shard");
    }
  }
}

// The row's weight (C_i = C * weight: instance times class weight), or the sentinel -1 when
// the shard carries none. Weighted(rw, loss, d, k) scales the row's loss and its k
// derivatives (or Hessian-vector entries) by rw and returns the loss; with no weights it
// touches nothing, so unweighted results keep their bits.
inline double RowWeight(const Dataset& data, std::int64_t r) {
  return data.row_weight.empty() ? -1.0 : data.row_weight[static_cast<std::size_t>(r)];
}
RINGTRAIN_ALWAYS_INLINE double Weighted(double rw, double loss, double* d, int k) {
  if (rw < 0) return loss;
  for (int o = 0; o < k; ++o) d[o] *= rw;
  return loss * rw;
}

// Dataset::own_class_weight: scales output c of a row of class c (and its share of the loss,
// Policy::OwnLoss) by the class weight — one-vs-rest with K > 2 only, where a class weight
// belongs to the positives of that class's subproblem. `s` null: no loss (Hessian terms).
template <class Policy>
RINGTRAIN_ALWAYS_INLINE double OwnClass(const Dataset& data, typename Policy::TargetType c,
                                        const double* s, int k, double loss, double* d) {
  if constexpr (requires { Policy::OwnLoss(s, k, c); }) {
    if (!data.own_class_weight.empty() && k > 1 && c >= 0) {
      const double own = data.own_class_weight[static_cast<std::size_t>(c)];
      if (s != nullptr) loss += (own - 1.0) * Policy::OwnLoss(s, k, c);
      if (d != nullptr) d[c] *= own;
    }
  }
  return loss;
}

// ---- Class-blocked path (2 <= K <= 16 outputs; kernels.h) ----

#if defined(__GNUC__) && defined(__x86_64__)
#define RINGTRAIN_AVX2_PATH 1
#define RINGTRAIN_TARGET_AVX2 __attribute__((target("avx2,fma"), flatten))
// The AVX2+FMA code path is taken iff this CPU has both; the answer never changes within a
// machine, so a machine always takes the same path (and gets the same bits).
inline bool UseAvx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#else
inline bool UseAvx2() { return false; }
#endif

// ---- Feature-sized scratch ----
//
// A kernel call may need feature-sized buffers: a feature-major copy of w (and of v) for the
// class-blocked path, and the partial sums of threads 1..T-1. They are kept by the calling
// thread across calls and only cleared, never freed: the first touch of a fresh 4 KiB page
// costs about 12 us here, and allocating per call cost a large share of a pass at 2^24
// features. They are HugeVectors (common/huge_pages.h), like the optimizer's vectors the
// kernels read and write. One slot per buffer alive at once.
enum class Slot { kWeights, kVector, kParts, kPaired, kCount };
inline common::HugeVector<double>& ScratchSlot(Slot slot) {
  thread_local common::HugeVector<double> slots[static_cast<int>(Slot::kCount)];
  return slots[static_cast<int>(slot)];
}
inline double* ScratchBuffer(Slot slot, std::size_t n) {
  common::HugeVector<double>& b = ScratchSlot(slot);
  if (b.size() < n) {
    b = common::HugeVector<double>();  // do not hold the old and the new buffer at once
    b.resize(n);
  }
  return b.data();
}
inline void ReleaseScratch(Slot slot) { ScratchSlot(slot) = common::HugeVector<double>(); }

// Feature-major view of output-major weights: wt[j * Kp + o] = w[o * dim + j], padding 0.
// With one output (Kp == 1) the layouts coincide and w itself is the view.
inline const double* Transposed(const Shape& sh, int kp, const double* w, Slot slot) {
  if (kp == 1) return w;
  const auto dim = static_cast<std::size_t>(sh.dim), ukp = static_cast<std::size_t>(kp);
  double* wt = ScratchBuffer(slot, dim * ukp);
  std::fill(wt, wt + dim * ukp, 0.0);
  for (std::size_t o = 0; o < static_cast<std::size_t>(sh.k); ++o)
    for (std::size_t j = 0; j < dim; ++j) wt[j * ukp + o] = w[o * dim + j];
  return wt;
}

// ---- The paired layout (one thread) ----
//
// A pass that gathers from one feature-sized vector (w, or v) and scatters into another (the
// gradient, or Hv) touches two cache lines per nonzero when the vectors are apart. In the
// paired layout feature j's Kp inputs are followed by its Kp sums, p[j*2Kp + q] and
// p[j*2Kp + Kp + q], so the scatter finds its line where the row's gather just brought it, and
// the kernel prefetches the lines of the rows ahead. It costs the copy in and out (O(features))
// and a 2 x features buffer; the arithmetic and its order are the same, so are the bits.
// Whether it pays depends on the feature count and the machine's caches (on an Intel Xeon, a
// throwaway gather-and-scatter pass over 40M random nonzeros: 0.75x at 2^17-2^18 features,
// where the two vectors fit the caches apart, 1.2x at 2^20, 1.6x at 2^24; models_bench, which
// can be rerun: docs/training.md), so LayoutTrial decides by timing the kernel's own calls.
class PairedVectors {
 public:
  // Feature-major copy of output-major `in` (k outputs of `dim` weights), sums zeroed.
  PairedVectors(const Shape& sh, int kp, const double* in)
      : dim_(static_cast<std::size_t>(sh.dim)),
        k_(static_cast<std::size_t>(sh.k)),
        kp_(static_cast<std::size_t>(kp)) {
    const std::size_t run = 2 * kp_;
    p_ = ScratchBuffer(Slot::kPaired, dim_ * run);
    for (std::size_t j = 0; j < dim_; ++j) {
      double* pj = p_ + j * run;
      for (std::size_t q = 0; q < run; ++q) pj[q] = 0.0;
      for (std::size_t o = 0; o < k_; ++o) pj[o] = in[o * dim_ + j];
    }
  }
  const double* inputs() const { return p_; }
  double* sums() const { return p_ + kp_; }
  // out[o*dim + j] += the sums (output-major).
  void AddInto(double* out) const {
    const std::size_t run = 2 * kp_;
    for (std::size_t o = 0; o < k_; ++o)
      for (std::size_t j = 0; j < dim_; ++j) out[o * dim_ + j] += p_[j * run + kp_ + o];
  }

 private:
  std::size_t dim_, k_, kp_;
  double* p_;
};

// The layout a one-thread kernel uses at one size: the first calls alternate separate and
// paired (two of each), timed; the faster is kept while the size stays (paired only when at
// least 5 % faster: it holds a 2 x features buffer, which is given back otherwise). One per
// kernel and thread. Not tried (separate) for vectors of under 2^16 doubles, which fit the
// caches apart, nor for passes of fewer nonzeros than features: the copies in and out stream
// about 48 bytes per feature (~5 ns at 10 GB/s), the pairing saves about one cache miss per
// nonzero (~5 ns at 2^24 features: models_bench's Hessian-vector pass 0.725 -> 0.521 s over
// 40M nonzeros), so below that it cannot win (and its buffer would only raise the peak
// memory).
class LayoutTrial {
 public:
  // Runs paired() or separate(), as the trial has it, and times the call while trying. Only
  // `eligible` calls (sparse rows, a scatter to make) take part.
  template <class Paired, class Separate>
  void Run(bool eligible, std::size_t stride, int threads, double nonzeros, Paired&& paired,
           Separate&& separate) {
    const bool candidate = eligible && threads == 1 && stride >= (std::size_t{1} << 16) &&
                           nonzeros >= static_cast<double>(stride);
    if (candidate && stride != stride_) {
      stride_ = stride;
      calls_ = 0;
      decided_ = -1;
      best_[0] = best_[1] = 1e300;
    }
    const bool use = candidate && (decided_ >= 0 ? decided_ == 1 : calls_ % 2 == 1);
    const auto t0 = std::chrono::steady_clock::now();
    if (use) {
      paired();
    } else {
      separate();
    }
    if (!candidate || decided_ >= 0) return;
    double& best = best_[use ? 1 : 0];
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (++calls_ < 4) return;
    decided_ = best_[1] < 0.95 * best_[0] ? 1 : 0;
    if (decided_ == 0) ReleaseScratch(Slot::kPaired);
  }

 private:
  std::size_t stride_ = 0;
  int calls_ = 0;
  int decided_ = -1;  // -1 trying, 0 separate, 1 paired
  double best_[2] = {1e300, 1e300};
};

// The per-thread partial sums of a kernel run over row blocks, `stride` doubles per thread,
// summed in thread order so the bits depend only on the partition. When `direct` (the
// buffer's layout is the output's: output-major kernels, or one output), thread 0 adds
// straight into `out` and only threads 1.. use scratch: one thread needs no buffer at all,
// and — the caller zeroes out, as every caller does — the sums have the bits they had when
// thread 0 had a buffer of its own.
class PartialSums {
 public:
  PartialSums(std::size_t stride, int threads, bool direct, double* out)
      : stride_(stride), direct_(direct), out_(out) {
    const std::size_t own = static_cast<std::size_t>(threads) - (direct ? 1 : 0);
    scratch_ = own > 0 ? ScratchBuffer(Slot::kParts, stride * own) : nullptr;
    if (own > 0) std::fill(scratch_, scratch_ + stride * own, 0.0);
  }
  double* For(int t) const {
    if (direct_) return t == 0 ? out_ : scratch_ + stride_ * static_cast<std::size_t>(t - 1);
    return scratch_ + stride_ * static_cast<std::size_t>(t);
  }
  // out[j] += (sum over threads, in thread order) — output-major buffers.
  void AddInto(int used) const {
    if (direct_) {
      for (int t = 1; t < used; ++t) {
        const double* p = For(t);
        for (std::size_t j = 0; j < stride_; ++j) out_[j] += p[j];
      }
      return;
    }
    for (std::size_t j = 0; j < stride_; ++j) {
      double acc = scratch_[j];
      for (int t = 1; t < used; ++t) acc += scratch_[stride_ * static_cast<std::size_t>(t) + j];
      out_[j] += acc;
    }
  }
  // The same from feature-major buffers (wt[j * Kp + o]) into output-major out.
  void AddTransposedInto(const Shape& sh, int kp, int used) const {
    if (direct_) {
      AddInto(used);  // Kp == 1: the layouts coincide
      return;
    }
    const auto dim = static_cast<std::size_t>(sh.dim), ukp = static_cast<std::size_t>(kp);
    for (std::size_t o = 0; o < static_cast<std::size_t>(sh.k); ++o) {
      for (std::size_t j = 0; j < dim; ++j) {
        double acc = scratch_[j * ukp + o];
        for (int t = 1; t < used; ++t)
          acc += scratch_[stride_ * static_cast<std::size_t>(t) + j * ukp + o];
        out_[o * dim + j] += acc;
      }
    }
  }

 private:
  std::size_t stride_;
  bool direct_;
  double* out_;
  double* scratch_;
};

template <int Kp>
RINGTRAIN_ALWAYS_INLINE bool AllZero(const double* d) {
  bool zero = true;
  for (int q = 0; q < Kp; ++q) zero = zero && d[q] == 0.0;
  return zero;
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
  return WithLoss(spec.loss, AllLosses{}, [&]<class L>() {
    return by_storage.template operator()<internal::PolicyOf<L>>();
  });
}

}  // namespace ringtrain::models::internal
