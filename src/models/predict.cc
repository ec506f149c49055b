// models/predict.cc — decision values, predicted labels and probabilities, additive
// evaluation sums (Pack/Unpack for an allreduce) and the binary AUC.
//
// Conventions follow liblinear's predict: binary -> classes[1] iff s > 0 (ties go to
// classes[0]); multiclass -> first arg max; OVR probabilities = sigmoid(s_k) normalised to
// sum 1; binary p(classes[1]) = sigmoid(s); multinomial = softmax(s).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "common/error.h"
#include "models/kernels.h"
#include "models/linear_model.h"
#include "models/losses.h"

namespace ringtrain::models {
namespace {

void CheckModel(const LinearModel& model) {
  if (!model.spec.regression() && model.spec.classes.size() < 2) {
    throw UsageError("model has fewer than 2 classes", "LinearModel", "load a trained model");
  }
  if (model.weights.size() != static_cast<std::size_t>(model.spec.num_weights())) {
    throw UsageError("model weights do not match its shape", "LinearModel",
                     "weights must have num_outputs * dim entries");
  }
}

template <bool kDense>
void DecisionsAll(const LinearModel& model, const Dataset& data, double* out) {
  const internal::Shape sh = internal::ShapeOf(model.spec);
  const std::int64_t n = data.rows();
  const double* w = model.weights.data();
#pragma omp parallel for schedule(static) num_threads(internal::ThreadsFor(n))
  for (std::int64_t r = 0; r < n; ++r) {
    internal::Decisions<kDense>(sh, internal::GetRow<kDense>(data, r, sh.nf), w, out + r * sh.k);
  }
}

double Sigmoid(double s) {
  if (s >= 0) return 1.0 / (1.0 + std::exp(-s));
  const double e = std::exp(s);
  return e / (1.0 + e);
}

std::size_t Argmax(const double* s, int k) {
  std::size_t best = 0;
  for (int o = 1; o < k; ++o) {
    if (s[o] > s[best]) best = static_cast<std::size_t>(o);
  }
  return best;
}

// Class index predicted from one row's decision values.
std::size_t PredictIndex(const double* s, int k) {
  if (k == 1) return s[0] > 0 ? 1 : 0;
  return Argmax(s, k);
}

// probabilities of one row into p (classes.size() entries).
void RowProbabilities(const ModelSpec& spec, const double* s, double* p) {
  const int k = spec.num_outputs();
  if (k == 1) {
    p[1] = Sigmoid(s[0]);
    p[0] = 1.0 - p[1];
  } else if (spec.multiclass == Multiclass::kMultinomial) {
    internal::SoftmaxPolicy::Probabilities(s, k, p);
  } else {
    double sum = 0;
    for (int o = 0; o < k; ++o) sum += p[o] = Sigmoid(s[o]);
    for (int o = 0; o < k; ++o) p[o] /= sum;
  }
}

}  // namespace

std::vector<double> DecisionValues(const LinearModel& model, const Dataset& data) {
  CheckModel(model);
  std::vector<double> out(static_cast<std::size_t>(data.rows() * model.spec.num_outputs()));
  if (data.is_dense()) {
    DecisionsAll<true>(model, data, out.data());
  } else {
    DecisionsAll<false>(model, data, out.data());
  }
  return out;
}

std::vector<double> PredictLabels(const LinearModel& model, const Dataset& data) {
  const std::vector<double> s = DecisionValues(model, data);
  if (model.spec.regression()) return s;  // the predicted target
  const int k = model.spec.num_outputs();
  std::vector<double> labels(static_cast<std::size_t>(data.rows()));
  for (std::size_t r = 0; r < labels.size(); ++r) {
    labels[r] = model.spec.classes[PredictIndex(s.data() + r * static_cast<std::size_t>(k), k)];
  }
  return labels;
}

std::vector<double> PredictProbabilities(const LinearModel& model, const Dataset& data) {
  if (!Info(model.spec.loss).probabilistic) {
    throw UsageError(
        "probabilities need a logistic model, this one uses " + ToString(model.spec.loss),
        "predict", "predict labels instead, or train with --model lr");
  }
  const std::vector<double> s = DecisionValues(model, data);
  const std::size_t k = static_cast<std::size_t>(model.spec.num_outputs());
  const std::size_t nc = model.spec.classes.size();
  std::vector<double> p(static_cast<std::size_t>(data.rows()) * nc);
  for (std::size_t r = 0; r < static_cast<std::size_t>(data.rows()); ++r) {
    RowProbabilities(model.spec, s.data() + r * k, p.data() + r * nc);
  }
  return p;
}

constexpr std::size_t kScalarSums = 9;

std::vector<double> EvalSums::Pack() const {
  std::vector<double> out{rows,       correct,     unseen, loss_sum, log_loss_sum,
                          sq_err_sum, abs_err_sum, y_sum,  y_sq_sum};
  out.insert(out.end(), confusion.begin(), confusion.end());
  return out;
}

EvalSums EvalSums::Unpack(std::span<const double> packed, std::size_t num_classes) {
  if (packed.size() != kScalarSums + num_classes * num_classes) {
    throw UsageError("packed EvalSums has " + std::to_string(packed.size()) + " values, expected " +
                         std::to_string(kScalarSums + num_classes * num_classes),
                     "EvalSums::Unpack", "pack and unpack with the same class count");
  }
  EvalSums e;
  e.rows = packed[0];
  e.correct = packed[1];
  e.unseen = packed[2];
  e.loss_sum = packed[3];
  e.log_loss_sum = packed[4];
  e.sq_err_sum = packed[5];
  e.abs_err_sum = packed[6];
  e.y_sum = packed[7];
  e.y_sq_sum = packed[8];
  e.confusion.assign(packed.begin() + kScalarSums, packed.end());
  return e;
}

EvalSums Evaluate(const LinearModel& model, const Dataset& data, std::vector<double>* scores) {
  const std::size_t nc = model.spec.classes.size();
  if (!model.spec.regression() && data.class_index.size() != data.labels.size()) {
    throw UsageError("AssignClasses has not run on this dataset", "Evaluate",
                     "call AssignClasses with the model's classes first");
  }
  EvalSums e;
  e.confusion.assign(nc * nc, 0.0);
  e.rows = static_cast<double>(data.rows());
  if (model.spec.regression()) {
    e.loss_sum = LossGradientSum(model.spec, data, model.weights, {});
    const std::vector<double> s = DecisionValues(model, data);
    for (std::size_t r = 0; r < s.size(); ++r) {
      const double y = data.labels[r], err = y - s[r];
      e.sq_err_sum += err * err;
      e.abs_err_sum += std::fabs(err);
      e.y_sum += y;
      e.y_sq_sum += y * y;
    }
    if (scores != nullptr) *scores = s;
    return e;
  }
  // The loss needs a true class: rows of unseen classes are left out of it.
  std::vector<std::int64_t> seen;
  for (std::size_t r = 0; r < data.class_index.size(); ++r)
    if (data.class_index[r] != kUnseenClass) seen.push_back(static_cast<std::int64_t>(r));
  e.unseen = e.rows - static_cast<double>(seen.size());
  if (e.unseen == 0) {
    e.loss_sum = LossGradientSum(model.spec, data, model.weights, {});
  } else if (!seen.empty()) {
    e.loss_sum = LossGradientSum(model.spec, data, model.weights, {}, seen);
  }
  const std::vector<double> s = DecisionValues(model, data);
  const int k = model.spec.num_outputs();
  const bool probabilistic = Info(model.spec.loss).probabilistic;
  std::vector<double> p(nc);
  for (std::size_t r = 0; r < static_cast<std::size_t>(data.rows()); ++r) {
    if (data.class_index[r] == kUnseenClass) continue;  // an error: no prediction matches it
    const double* sr = s.data() + r * static_cast<std::size_t>(k);
    const std::size_t truth = static_cast<std::size_t>(data.class_index[r]);
    const std::size_t pred = PredictIndex(sr, k);
    e.confusion[truth * nc + pred] += 1.0;
    if (truth == pred) e.correct += 1.0;
    if (probabilistic) {
      RowProbabilities(model.spec, sr, p.data());
      // Clamp like scikit-learn's log_loss so a confident mistake stays finite.
      e.log_loss_sum += -std::log(std::clamp(p[truth], 1e-15, 1.0));
    }
  }
  if (scores != nullptr) *scores = s;
  return e;
}

std::vector<std::pair<std::string, double>> TaskMetrics(const ModelSpec& spec, const EvalSums& e) {
  const double nan = std::nan("");
  const double n = e.rows;
  std::vector<std::pair<std::string, double>> out;
  if (spec.regression()) {
    const double sst = e.y_sq_sum - e.y_sum * e.y_sum / std::max(n, 1.0);
    out.emplace_back("mse", n > 0 ? e.sq_err_sum / n : nan);
    out.emplace_back("mae", n > 0 ? e.abs_err_sum / n : nan);
    out.emplace_back("r2", n > 0 && sst > 0 ? 1.0 - e.sq_err_sum / sst : nan);
    return out;
  }
  out.emplace_back("accuracy", n > 0 ? e.correct / n : nan);
  const double seen = n - e.unseen;  // log loss needs a true class the model knows
  if (Info(spec.loss).probabilistic)
    out.emplace_back("log_loss", seen > 0 ? e.log_loss_sum / seen : nan);
  const std::size_t k = spec.classes.size();
  double f1_sum = 0;
  int counted = 0;
  for (std::size_t c = 0; c < k && e.confusion.size() == k * k; ++c) {
    double tp = e.confusion[c * k + c], fp = 0, fn = 0;
    for (std::size_t o = 0; o < k; ++o) {
      if (o == c) continue;
      fn += e.confusion[c * k + o];
      fp += e.confusion[o * k + c];
    }
    if (tp + fp + fn == 0) continue;
    f1_sum += 2 * tp / (2 * tp + fp + fn);
    ++counted;
  }
  out.emplace_back("macro_f1", n > 0 && counted > 0 ? f1_sum / counted : nan);
  return out;
}

double BinaryAuc(std::span<const double> scores, std::span<const std::int32_t> class_index) {
  if (scores.size() != class_index.size()) {
    throw UsageError("scores and labels differ in count", "BinaryAuc", "one score per row");
  }
  // Ranks among the rows of the model's classes only.
  std::vector<std::size_t> order;
  for (std::size_t r = 0; r < scores.size(); ++r)
    if (class_index[r] != kUnseenClass) order.push_back(r);
  const std::size_t n = order.size();
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Mann-Whitney U with average ranks for ties.
  double pos = 0, rank_sum = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1..j
    for (std::size_t t = i; t < j; ++t) {
      if (class_index[order[t]] == 1) {
        pos += 1;
        rank_sum += avg_rank;
      }
    }
    i = j;
  }
  const double neg = static_cast<double>(n) - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

}  // namespace ringtrain::models

namespace ringtrain::models {

double BinaryPrAuc(std::span<const double> scores, std::span<const std::int32_t> class_index) {
  if (scores.size() != class_index.size()) {
    throw UsageError("scores and labels differ in count", "BinaryPrAuc", "one score per row");
  }
  std::vector<std::size_t> order;  // rows of unseen classes are left out, as in BinaryAuc
  for (std::size_t r = 0; r < scores.size(); ++r)
    if (class_index[r] != kUnseenClass) order.push_back(r);
  const std::size_t n = order.size();
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double total_pos = 0;
  for (std::size_t r : order) total_pos += class_index[r] == 1 ? 1.0 : 0.0;
  if (total_pos == 0) return std::nan("");
  double tp = 0, seen = 0, ap = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    double group_pos = 0;
    while (j < n && scores[order[j]] == scores[order[i]]) {
      group_pos += class_index[order[j]] == 1 ? 1.0 : 0.0;
      ++j;
    }
    tp += group_pos;
    seen += static_cast<double>(j - i);
    ap += (group_pos / total_pos) * (tp / seen);
    i = j;
  }
  return ap;
}

}  // namespace ringtrain::models
