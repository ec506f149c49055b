// models/linear_model.h — linear models with liblinear's conventions, their loss and
// gradient sums over a shard, predictions, and the model file.
//
// Objective (the optimizer's, assembled in train/): 0.5*|w|^2 + C * sum_i loss_i. This file
// gives only the data terms: sum_i loss_i and its gradient, over one shard, OpenMP-parallel
// inside the rank with a fixed reduction order (deterministic for a fixed thread count).
//
// Losses: the descriptor table in loss_info.h (names, formulas, which model, Hessian or not).
// Multiclass: one-vs-rest (K binary problems sharing the data, y = +1 for class k) or
// multinomial softmax (logistic only): loss_i = logsumexp_k(w_k.x) - w_{y_i}.x.
// Binary problems (2 classes) have one output; class index 1 (the larger label) is y = +1.
// Bias: liblinear 2.3's convention: an extra feature of constant value bias_value whose
// weight is regularised like the others.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "models/dataset.h"
#include "models/loss_info.h"

namespace ringtrain::models {

enum class Multiclass { kOvr, kMultinomial };
// The regulariser; values are the model file's codes.
//   l2:      0.5 |w|^2                                  (liblinear -s 0/2/11)
//   l1:      |w|_1                                      (liblinear -s 6/5)
//   elastic: r |w|_1 + (1 - r) 0.5 |w|^2, r = l1_ratio  (scikit-learn's elastic net)
// The bias weight, when there is one, is regularised like the others (liblinear 2.3).
enum class Penalty : std::uint32_t { kL2 = 0, kL1 = 1, kElastic = 2 };

// "l2" | "l1" | "elastic"; UsageError naming `option` otherwise.
Penalty ParsePenalty(const std::string& text, const std::string& option = "--penalty");
std::string ToString(Penalty penalty);

// The coefficients of the two parts: R(w) = l1 |w|_1 + l2 0.5 |w|^2.
struct Regularizer {
  double l1 = 0;
  double l2 = 1;
  static Regularizer Of(Penalty penalty, double l1_ratio);
  double Value(std::span<const double> w) const;
};

// "ovr" | "multinomial"; UsageError otherwise.
Multiclass ParseMulticlass(const std::string& text);
std::string ToString(Multiclass mc);

struct ModelSpec {
  Loss loss = Loss::kLogistic;
  Multiclass multiclass = Multiclass::kOvr;
  std::vector<double> classes;  // sorted distinct labels, size >= 2; empty for regression
  std::int64_t num_features = 0;
  bool bias = false;
  double bias_value = 1.0;
  double epsilon = 0.1;  // insensitive-zone half width of the epsilon losses (liblinear -p)

  bool regression() const { return IsRegression(loss); }
  // 1 for regression and for two classes, else classes.size().
  int num_outputs() const;
  // Weights per output: num_features (+1 with bias; the bias weight is the last one).
  std::int64_t dim() const { return num_features + (bias ? 1 : 0); }
  std::int64_t num_weights() const { return num_outputs() * dim(); }
};

// Weights are output-major: w[o * dim() + j]. The objective it was trained with is recorded
// so `eval` needs no training options (c == 0: not recorded, a version-1 file).
struct LinearModel {
  ModelSpec spec;
  std::vector<double> weights;
  std::int64_t epoch = 0;
  double c = 0;
  Penalty penalty = Penalty::kL2;
  double l1_ratio = 0;
  Regularizer regularizer() const { return Regularizer::Of(penalty, l1_ratio); }
  // Weights that are not exactly zero (an L1 model's support).
  std::int64_t nonzero_weights() const;
};

// Sum over the shard's rows (or over `rows` if non-empty: indices into the shard) of the
// data loss; adds the gradient of that sum into `grad` (size num_weights; the caller zeroes
// it). Classification requires AssignClasses to have run; regression reads the raw labels
// as targets. No regulariser, no C.
double LossGradientSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                       std::span<double> grad, std::span<const std::int64_t> rows = {});

// Sum over the shard of the generalized Hessian (Gauss-Newton for squared hinge) times `v`,
// added into `out` — for trust-region Newton. Losses with Info(loss).has_hessian only.
void HessianVectorSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                      std::span<const double> v, std::span<double> out);
// The diagonal of that Hessian summed over the shard, added into `out` — the diagonal
// preconditioner of trust-region Newton's conjugate gradient.
void HessianDiagonalSum(const ModelSpec& spec, const Dataset& data, std::span<const double> w,
                        std::span<double> out);

// Decision values: rows x num_outputs, row-major.
std::vector<double> DecisionValues(const LinearModel& model, const Dataset& data);
// Predicted labels (values from spec.classes; regression: the predicted target), one per row.
std::vector<double> PredictLabels(const LinearModel& model, const Dataset& data);
// Class probabilities, rows x classes.size() (logistic/softmax models only; OVR normalised
// like liblinear's predict_probability).
std::vector<double> PredictProbabilities(const LinearModel& model, const Dataset& data);

// Additive statistics so ranks can allreduce them: sums and counts only.
// Rows of a class the model never saw (class_index kUnseenClass) count in `rows` and
// `unseen` and never as correct (liblinear-predict's accuracy); the loss, log-loss and
// confusion sums cover the other rows only.
struct EvalSums {
  double rows = 0;
  double correct = 0;
  double unseen = 0;        // rows whose label is not one of the model's classes
  double loss_sum = 0;      // data loss sum, same as LossGradientSum's value
  double log_loss_sum = 0;  // -log p(true class) (probabilistic models; 0 otherwise)
  double sq_err_sum = 0;    // regression: sum (y - prediction)^2
  double abs_err_sum = 0;   // regression: sum |y - prediction|
  double y_sum = 0;         // regression: sum y and sum y^2 (for R^2)
  double y_sq_sum = 0;
  std::vector<double> confusion;  // classes x classes, [true * K + predicted]
  std::vector<double> Pack() const;
  static EvalSums Unpack(std::span<const double> packed, std::size_t num_classes);
};
// `scores` (optional): receives the decision values the sums were computed from (rows x
// num_outputs), so a caller that also needs them (AUC) does not score the data twice.
EvalSums Evaluate(const LinearModel& model, const Dataset& data,
                  std::vector<double>* scores = nullptr);
// The metrics of the model's task from (global) sums, in a fixed order, the default metric
// (Info(loss).default_metric) first. Classification: accuracy, log_loss (probabilistic
// losses), macro_f1 (mean over classes of 2TP/(2TP+FP+FN), classes never true nor predicted
// left out). Regression: mse, mae, r2 (1 - SSE/SST; NaN when the targets are constant).
// Names are the --metrics JSON and eval keys. NaN for zero rows.
std::vector<std::pair<std::string, double>> TaskMetrics(const ModelSpec& spec,
                                                        const EvalSums& sums);
// AUC of the binary decision values against labels (class index 1 positive, rows of unseen
// classes left out), one shard.
double BinaryAuc(std::span<const double> scores, std::span<const std::int32_t> class_index);
// Area under the precision-recall curve as average precision: sum over distinct thresholds
// (scores descending, ties one step) of (recall gain) * precision. NaN without positives.
double BinaryPrAuc(std::span<const double> scores, std::span<const std::int32_t> class_index);

// Binary model file (magic, version, kind, loss, classes, features, bias, epoch, C, epsilon,
// penalty, weights, CRC-32; docs/formats.md). Version 1 files still load. SaveModel writes
// atomically. LoadModel: truncated / corrupted / wrong version -> DataError naming the path and
// what is wrong.
void SaveModel(const LinearModel& model, const std::string& path);
LinearModel LoadModel(const std::string& path);
// Serialised form (what SaveModel writes), for checkpoints and broadcasts.
std::vector<std::byte> SerializeModel(const LinearModel& model);
LinearModel DeserializeModel(std::span<const std::byte> bytes, const std::string& where);
// liblinear's text model format, readable by Debian's liblinear-predict (OVR and binary;
// multinomial exported as its K weight vectors, which liblinear-predict treats as OVR).
void ExportLiblinear(const LinearModel& model, const std::string& path);

}  // namespace ringtrain::models
