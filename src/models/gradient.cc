// models/gradient.cc — LossGradientSum and HessianVectorSum over one shard.
//
// One kernel template per (row policy, storage): the loss is a template parameter, so the
// per-example loop has no virtual call. Rows are split over OpenMP threads in contiguous
// blocks (kernels.h); per-thread partial sums are added in thread order, so a fixed thread
// count gives bit-identical results.
#include <cstdint>
#include <span>
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
    return GradientKernel<P, kDense>(sh, data, w.data(), g, rows);
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
      HessianKernel<P, kDense>(sh, data, w.data(), v.data(), out.data());
    }
  });
}

}  // namespace ringtrain::models
