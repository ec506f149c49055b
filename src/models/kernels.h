// models/kernels.h — internal: row access (CSR or dense, templated), the dot products and
// axpys of a linear model over one row, and the deterministic thread partition.
//
// Determinism: rows [0, n) are split into T contiguous blocks, block t = [n*t/T, n*(t+1)/T)
// for thread t; each thread sums into its own buffer (thread 0's may be the output itself);
// buffers are summed in thread order (gradient_internal.h: PartialSums).
// T depends only on n and the OpenMP thread limit, so a fixed thread count gives the same
// bits on every run.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

#include "models/linear_model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ringtrain::models::internal {

inline int MaxThreads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int ThreadNum() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline int NumThreads() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Threads worth starting for n rows (tiny shards stay on one thread).
inline int ThreadsFor(std::int64_t n) {
  return static_cast<int>(std::clamp<std::int64_t>(n / 256, 1, MaxThreads()));
}

// Threads for a pass over n of the shard's rows that sums into per-thread buffers of `stride`
// doubles (gradient, Hessian-vector, diagonal): a thread beyond the first costs a buffer to
// clear, add up and hold, so one is started only when its share of the pass's nonzeros is at
// least its buffer's size (at 2^24 features: shards of >= 16.8M nonzeros per extra thread,
// e.g. a 1M-row x 40 shard runs on 2 threads; a 100k-row one on 1).
// The nonzeros of a pass over n of the shard's rows (in proportion).
inline double PassNonzeros(std::int64_t n, const Dataset& d) {
  const std::int64_t rows = std::max<std::int64_t>(d.rows(), 1);
  return static_cast<double>(d.nonzeros()) * static_cast<double>(n) / static_cast<double>(rows);
}
inline int ThreadsForSums(std::int64_t n, const Dataset& d, std::size_t stride) {
  const double nnz = PassNonzeros(n, d);
  const double by_size = stride > 0 ? nnz / static_cast<double>(stride) : 1e18;
  return static_cast<int>(std::clamp<double>(std::floor(by_size), 1.0, ThreadsFor(n)));
}

// Runs body(t, b, e) once per thread of an OpenMP team of `threads` (at most; OpenMP may start
// fewer), thread t on rows [b, e) = [n*t/T, n*(t+1)/T) — the deterministic partition above.
// Returns T, the threads that ran, so their buffers can be summed in thread order.
template <class Body>
int ParallelRowBlocks(std::int64_t n, [[maybe_unused]] int threads, Body&& body) {
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = ThreadNum();
    const int nt = NumThreads();
    if (t == 0) used = nt;
    body(t, n * t / nt, n * (t + 1) / nt);
  }
  return used;
}

// One row: nnz values x[k] at columns idx[k] (idx == nullptr: dense, column k).
struct Row {
  const float* x;
  const std::int32_t* idx;
  std::int64_t nnz;
};

struct Shape {
  int k;             // outputs
  std::int64_t dim;  // weights per output
  std::int64_t nf;   // model features (columns >= nf are ignored, like liblinear)
  bool bias;
  double bias_value;
  double epsilon;  // the epsilon losses' insensitive zone (ModelSpec::epsilon)
};

inline Shape ShapeOf(const ModelSpec& spec) {
  return Shape{spec.num_outputs(), spec.dim(),      spec.num_features,
               spec.bias,          spec.bias_value, spec.epsilon};
}

template <bool kDense>
inline Row GetRow(const Dataset& d, std::int64_t r, std::int64_t nf) {
  if constexpr (kDense) {
    return Row{d.dense.data() + r * d.dense_cols, nullptr, std::min(d.dense_cols, nf)};
  } else {
    const std::int64_t b = d.row_ptr[static_cast<std::size_t>(r)];
    std::int64_t nnz = d.row_ptr[static_cast<std::size_t>(r) + 1] - b;
    const std::int32_t* idx = d.col.data() + b;
    while (nnz > 0 && idx[nnz - 1] >= nf) --nnz;  // ascending columns: cut the tail
    return Row{d.val.data() + b, idx, nnz};
  }
}

template <bool kDense>
inline double Dot(const Row& row, const double* w) {
  if constexpr (kDense) {
    // A vectorised sum (omp simd): the order is fixed at compile time, so still deterministic.
    double a = 0;
    const float* x = row.x;
#pragma omp simd reduction(+ : a)
    for (std::int64_t j = 0; j < row.nnz; ++j) a += w[j] * static_cast<double>(x[j]);
    return a;
  } else {
    double a = 0;
    for (std::int64_t k = 0; k < row.nnz; ++k) a += w[row.idx[k]] * row.x[k];
    return a;
  }
}

template <bool kDense>
inline void Axpy(const Row& row, double a, double* g) {
  if constexpr (kDense) {
    const float* x = row.x;
#pragma omp simd
    for (std::int64_t j = 0; j < row.nnz; ++j) g[j] += a * static_cast<double>(x[j]);
  } else {
    for (std::int64_t k = 0; k < row.nnz; ++k) g[row.idx[k]] += a * row.x[k];
  }
}

// s[o] = w_o . x (+ bias weight * bias_value).
template <bool kDense>
inline void Decisions(const Shape& sh, const Row& row, const double* w, double* s) {
  for (int o = 0; o < sh.k; ++o) {
    const double* wo = w + o * sh.dim;
    double v = Dot<kDense>(row, wo);
    if (sh.bias) v += wo[sh.nf] * sh.bias_value;
    s[o] = v;
  }
}

// g_o += d[o] * x (and the bias), for every output with d[o] != 0.
template <bool kDense>
inline void Scatter(const Shape& sh, const Row& row, const double* d, double* g) {
  for (int o = 0; o < sh.k; ++o) {
    if (d[o] == 0.0) continue;
    double* go = g + o * sh.dim;
    Axpy<kDense>(row, d[o], go);
    if (sh.bias) go[sh.nf] += d[o] * sh.bias_value;
  }
}

// ---- Class-blocked kernels (K outputs in one pass over the row) ----
//
// The weights are transposed to feature-major wt[j * Kp + o] (Kp = K rounded up to a multiple
// of 4, padding zero), so one nonzero x_j updates Kp contiguous accumulators: one pass over
// the row gives all K dot products (and one pass scatters all K gradient updates), instead
// of K passes. Kp is a compile-time constant, so the inner loops are fixed-width vector ops.
// kFma: use fused multiply-add (only inside the AVX2+FMA code path, see gradient_internal.h). The
// summation order is fixed by the code (two interleaved accumulator sets, even and odd
// nonzeros, added at the end), so results are deterministic for a given code path.
#if defined(__GNUC__)
#define RINGTRAIN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define RINGTRAIN_ALWAYS_INLINE inline
#endif

template <bool kFma>
RINGTRAIN_ALWAYS_INLINE double MulAdd(double a, double b, double c) {
  if constexpr (kFma) {
    return __builtin_fma(a, b, c);
  } else {
    return a * b + c;
  }
}

// s[q] = sum_j wt[j*S + q] x_j, q < Kp. S (doubles per feature) is Kp, or 2 Kp in the
// paired layout (gradient_internal.h: PairedVectors).
template <int Kp, bool kDense, bool kFma, int S = Kp>
RINGTRAIN_ALWAYS_INLINE void BlockedDots(const Row& row, const double* wt, double* s) {
  double a0[Kp] = {}, a1[Kp] = {};
  const std::int64_t nnz = row.nnz;
  std::int64_t k = 0;
  for (; k + 1 < nnz; k += 2) {
    const std::int64_t j0 = kDense ? k : row.idx[k];
    const std::int64_t j1 = kDense ? k + 1 : row.idx[k + 1];
    const double x0 = static_cast<double>(row.x[k]);
    const double x1 = static_cast<double>(row.x[k + 1]);
    const double* w0 = wt + j0 * S;
    const double* w1 = wt + j1 * S;
#pragma omp simd
    for (int q = 0; q < Kp; ++q) a0[q] = MulAdd<kFma>(w0[q], x0, a0[q]);
#pragma omp simd
    for (int q = 0; q < Kp; ++q) a1[q] = MulAdd<kFma>(w1[q], x1, a1[q]);
  }
  if (k < nnz) {
    const std::int64_t j0 = kDense ? k : row.idx[k];
    const double x0 = static_cast<double>(row.x[k]);
    const double* w0 = wt + j0 * S;
#pragma omp simd
    for (int q = 0; q < Kp; ++q) a0[q] = MulAdd<kFma>(w0[q], x0, a0[q]);
  }
#pragma omp simd
  for (int q = 0; q < Kp; ++q) s[q] = a0[q] + a1[q];
}

// gt[j*S + q] += d[q] x_j.
template <int Kp, bool kDense, bool kFma, int S = Kp>
RINGTRAIN_ALWAYS_INLINE void BlockedScatter(const Row& row, const double* d, double* gt) {
  double dd[Kp];
#pragma omp simd
  for (int q = 0; q < Kp; ++q) dd[q] = d[q];
  for (std::int64_t k = 0; k < row.nnz; ++k) {
    const std::int64_t j = kDense ? k : row.idx[k];
    const double x = static_cast<double>(row.x[k]);
    double* gj = gt + j * S;
#pragma omp simd
    for (int q = 0; q < Kp; ++q) gj[q] = MulAdd<kFma>(dd[q], x, gj[q]);
  }
}

// Asks for the cache lines of row r's features in a table of S doubles per feature (the
// paired layout's gather-and-scatter lines), a few rows ahead of their use.
template <int S>
RINGTRAIN_ALWAYS_INLINE void PrefetchRow(const Row& row, const double* t) {
  for (std::int64_t k = 0; k < row.nnz; ++k) __builtin_prefetch(t + row.idx[k] * S, 1, 3);
}

}  // namespace ringtrain::models::internal
