// train/vector_math.h — the few dense-vector helpers the full-batch optimizers share.
//
// Plain sequential loops over allreduced values, so every rank computes bit-identical results
// (no threads, no reordering). Internal to src/train (lbfgs.cc, tron.cc).
#pragma once

#include <cstddef>
#include <span>

#include "train/optimizer.h"

namespace ringtrain::train::internal {

inline double Dot(std::span<const double> a, std::span<const double> b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// y += a x
inline void Axpy(double a, std::span<const double> x, std::span<double> y) {
  for (std::size_t i = 0; i < x.size(); ++i) y[i] += a * x[i];
}

// r with the objective, gradient norm and stopping verdict of a full-batch epoch filled in.
inline EpochReport FullBatchReport(EpochReport r, double objective, double grad_norm,
                                   bool converged) {
  r.objective = objective;
  r.grad_norm = grad_norm;
  r.converged = converged;
  return r;
}

}  // namespace ringtrain::train::internal
