// models/names.cc — loss / multiclass names and ModelSpec helpers.
#include "common/error.h"
#include "models/linear_model.h"

namespace ringtrain::models {

Loss ParseLoss(const std::string& text) {
  if (text == "logistic") return Loss::kLogistic;
  if (text == "hinge") return Loss::kHinge;
  if (text == "squared_hinge") return Loss::kSquaredHinge;
  throw UsageError("unknown loss '" + text + "'", "--loss", "use logistic, hinge or squared_hinge");
}

Multiclass ParseMulticlass(const std::string& text) {
  if (text == "ovr") return Multiclass::kOvr;
  if (text == "multinomial") return Multiclass::kMultinomial;
  throw UsageError("unknown multiclass mode '" + text + "'", "--multiclass",
                   "use ovr or multinomial");
}

std::string ToString(Loss loss) {
  switch (loss) {
    case Loss::kLogistic:
      return "logistic";
    case Loss::kHinge:
      return "hinge";
    case Loss::kSquaredHinge:
      return "squared_hinge";
  }
  return "unknown";
}

std::string ToString(Multiclass mc) { return mc == Multiclass::kOvr ? "ovr" : "multinomial"; }

int ModelSpec::num_outputs() const {
  return classes.size() == 2 ? 1 : static_cast<int>(classes.size());
}

}  // namespace ringtrain::models
