// models/loss_info.h — every per-loss fact in one place: the descriptor table the kernels,
// the options, the model file, the trainer and eval all read.
//
// Adding a loss: an enumerator below (its value is its model-file code, never reused), a row
// of kLossTable (same order), and its functor in losses.h (listed in internal::AllLosses).
// static_asserts tie the three together, so a loss left out of one of them does not build.
// Text is parsed into these enums once, at the edge (options, model file); everything
// behind the edge switches on the enums.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringtrain::models {

// Values are the model file's codes (docs/formats.md).
enum class Loss : std::uint32_t {
  kLogistic = 0,
  kHinge = 1,
  kSquaredHinge = 2,
  kSquaredEpsilonInsensitive = 3,
  kEpsilonInsensitive = 4,
  kSquared = 5,
};
// `--model`; values are the model file's "kind" codes.
enum class ModelKind : std::uint32_t { kLr = 0, kSvm = 1, kSvr = 2, kLinreg = 3 };
enum class Task { kClassification, kRegression };

struct LossInfo {
  Loss loss;
  std::string_view name;  // --loss value, model file / metrics text
  ModelKind model;        // the --model this loss belongs to
  Task task;
  bool smooth;         // differentiable everywhere: full-batch methods (lbfgs, tron) apply
  bool has_hessian;    // a (generalized) Hessian: trust-region Newton applies
  bool probabilistic;  // scores are log-odds: probabilities and log loss
  bool multinomial;    // may be trained as a softmax over classes
  bool uses_epsilon;   // the loss reads ModelSpec::epsilon (--epsilon)
  std::string_view default_metric;  // what eval and the epoch lines lead with
  int liblinear_solver;             // liblinear -s with the same primal objective (-1: none)
  std::string_view liblinear_type;  // liblinear model file's solver_type for export
  std::string_view formula;         // for --help and docs/training.md
};

// Classification losses take y in {-1,+1}; regression losses take the raw target y.
inline constexpr std::array<LossInfo, 6> kLossTable = {{
    {Loss::kLogistic, "logistic", ModelKind::kLr, Task::kClassification, true, true, true, true,
     false, "accuracy", 0, "L2R_LR", "log(1 + exp(-y w.x))"},
    {Loss::kHinge, "hinge", ModelKind::kSvm, Task::kClassification, false, false, false, false,
     false, "accuracy", 3, "L2R_L1LOSS_SVC_DUAL", "max(0, 1 - y w.x)"},
    {Loss::kSquaredHinge, "squared_hinge", ModelKind::kSvm, Task::kClassification, true, true,
     false, false, false, "accuracy", 2, "L2R_L2LOSS_SVC", "max(0, 1 - y w.x)^2"},
    {Loss::kSquaredEpsilonInsensitive, "squared_epsilon_insensitive", ModelKind::kSvr,
     Task::kRegression, true, true, false, false, true, "mse", 11, "L2R_L2LOSS_SVR",
     "max(0, |y - w.x| - epsilon)^2"},
    {Loss::kEpsilonInsensitive, "epsilon_insensitive", ModelKind::kSvr, Task::kRegression, false,
     false, false, false, true, "mse", 13, "L2R_L1LOSS_SVR_DUAL", "max(0, |y - w.x| - epsilon)"},
    // Least squares is liblinear -s 11 at -p 0.
    {Loss::kSquared, "squared", ModelKind::kLinreg, Task::kRegression, true, true, false, false,
     false, "mse", 11, "L2R_L2LOSS_SVR", "(y - w.x)^2"},
}};

constexpr bool LossTableInOrder() {
  for (std::size_t i = 0; i < kLossTable.size(); ++i)
    if (static_cast<std::size_t>(kLossTable[i].loss) != i) return false;
  return true;
}
static_assert(LossTableInOrder(), "kLossTable rows must follow the Loss enumerators");

constexpr const LossInfo& Info(Loss loss) { return kLossTable[static_cast<std::size_t>(loss)]; }
// The model-file code is valid (a loss this build knows).
constexpr bool IsLossCode(std::uint32_t code) { return code < kLossTable.size(); }

struct ModelInfo {
  ModelKind kind;
  std::string_view name;  // --model value
  Loss default_loss;
};

inline constexpr std::array<ModelInfo, 4> kModelTable = {{
    {ModelKind::kLr, "lr", Loss::kLogistic},
    {ModelKind::kSvm, "svm", Loss::kSquaredHinge},
    {ModelKind::kSvr, "svr", Loss::kSquaredEpsilonInsensitive},
    {ModelKind::kLinreg, "linreg", Loss::kSquared},
}};

constexpr bool ModelTableInOrder() {
  for (std::size_t i = 0; i < kModelTable.size(); ++i)
    if (static_cast<std::size_t>(kModelTable[i].kind) != i) return false;
  return true;
}
static_assert(ModelTableInOrder(), "kModelTable rows must follow the ModelKind enumerators");

constexpr bool IsRegression(Loss loss) { return Info(loss).task == Task::kRegression; }

constexpr const ModelInfo& Info(ModelKind kind) {
  return kModelTable[static_cast<std::size_t>(kind)];
}

// Parsers of the edge: UsageError naming `option` and listing the known names otherwise.
Loss ParseLoss(const std::string& text, const std::string& option = "--loss");
ModelKind ParseModelKind(const std::string& text, const std::string& option = "--model");
// "a|b|c" of every loss (of one model kind when given) / every model.
std::string LossNames();
std::string LossNames(ModelKind kind);
std::string ModelNames();
std::string ToString(Loss loss);
std::string ToString(ModelKind kind);

}  // namespace ringtrain::models
