// models/names.cc — parsing and printing of the loss / model / multiclass names (from the
// descriptor tables of loss_info.h), and ModelSpec helpers.
#include <cmath>

#include "common/error.h"
#include "models/linear_model.h"
#include "models/loss_info.h"

namespace ringtrain::models {

std::string LossNames() {
  std::string out;
  for (const LossInfo& l : kLossTable) out += (out.empty() ? "" : "|") + std::string(l.name);
  return out;
}

std::string LossNames(ModelKind kind) {
  std::string out;
  for (const LossInfo& l : kLossTable)
    if (l.model == kind) out += (out.empty() ? "" : "|") + std::string(l.name);
  return out;
}

std::string ModelNames() {
  std::string out;
  for (const ModelInfo& m : kModelTable) out += (out.empty() ? "" : "|") + std::string(m.name);
  return out;
}

Loss ParseLoss(const std::string& text, const std::string& option) {
  for (const LossInfo& l : kLossTable)
    if (text == l.name) return l.loss;
  throw UsageError("unknown loss '" + text + "'", option, "use one of " + LossNames());
}

ModelKind ParseModelKind(const std::string& text, const std::string& option) {
  for (const ModelInfo& m : kModelTable)
    if (text == m.name) return m.kind;
  throw UsageError("unknown model '" + text + "'", option, "use one of " + ModelNames());
}

std::string ToString(Loss loss) { return std::string(Info(loss).name); }
std::string ToString(ModelKind kind) { return std::string(Info(kind).name); }

Multiclass ParseMulticlass(const std::string& text) {
  if (text == "ovr") return Multiclass::kOvr;
  if (text == "multinomial") return Multiclass::kMultinomial;
  throw UsageError("unknown multiclass mode '" + text + "'", "--multiclass",
                   "use ovr or multinomial");
}

std::string ToString(Multiclass mc) { return mc == Multiclass::kOvr ? "ovr" : "multinomial"; }

Penalty ParsePenalty(const std::string& text, const std::string& option) {
  if (text == "l2") return Penalty::kL2;
  if (text == "l1") return Penalty::kL1;
  if (text == "elastic") return Penalty::kElastic;
  throw UsageError("unknown penalty '" + text + "'", option, "use l2, l1 or elastic");
}

std::string ToString(Penalty penalty) {
  return penalty == Penalty::kL2 ? "l2" : penalty == Penalty::kL1 ? "l1" : "elastic";
}

Regularizer Regularizer::Of(Penalty penalty, double l1_ratio) {
  switch (penalty) {
    case Penalty::kL1:
      return {1.0, 0.0};
    case Penalty::kElastic:
      return {l1_ratio, 1.0 - l1_ratio};
    case Penalty::kL2:
      break;
  }
  return {0.0, 1.0};
}

double Regularizer::Value(std::span<const double> w) const {
  double abs = 0, sq = 0;
  for (double v : w) {
    abs += std::fabs(v);
    sq += v * v;
  }
  return (l1 > 0 ? l1 * abs : 0.0) + (l2 > 0 ? 0.5 * l2 * sq : 0.0);
}

std::int64_t LinearModel::nonzero_weights() const {
  std::int64_t n = 0;
  for (double v : weights) n += v != 0.0 ? 1 : 0;
  return n;
}

int ModelSpec::num_outputs() const {
  return regression() || classes.size() == 2 ? 1 : static_cast<int>(classes.size());
}

}  // namespace ringtrain::models
