// models/names.cc — parsing and printing of the loss / model / multiclass names (from the
// descriptor tables of loss_info.h), and ModelSpec helpers.
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

int ModelSpec::num_outputs() const {
  return regression() || classes.size() == 2 ? 1 : static_cast<int>(classes.size());
}

}  // namespace ringtrain::models
