// models/liblinear_export.cc — liblinear's text model format (what liblinear-predict reads).
//
//   solver_type L2R_LR | L2R_L2LOSS_SVC | L2R_L1LOSS_SVC_DUAL | ... (the loss's), or
//               L1R_LR | L1R_L2LOSS_SVC for --penalty l1 models of those losses
//   nr_class K
//   label l_1 ... l_K
//   nr_feature F
//   bias b            (bias value, or -1 without bias)
//   w
//   F (+1 with bias) lines, each with nr_w values: w of every output for that feature
// nr_w is 1 for two classes, else K. liblinear's binary w belongs to the FIRST listed label
// (it predicts label[0] iff w.x > 0); ours belongs to classes[1], so a binary model lists
// "label classes[1] classes[0]". Multiclass lists classes ascending, output k = classes[k].
// Multinomial weights are written as they are; liblinear-predict then takes the arg max,
// which is the softmax prediction too (its -b probabilities would be OVR-normalised).
#include <charconv>
#include <string>

#include "common/error.h"
#include "common/file_util.h"
#include "models/linear_model.h"

namespace ringtrain::models {
namespace {

void Append(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  out.append(buf, r.ptr);
}

}  // namespace

void ExportLiblinear(const LinearModel& model, const std::string& path) {
  const ModelSpec& s = model.spec;
  if (model.weights.size() != static_cast<std::size_t>(s.num_weights()) ||
      (!s.regression() && s.classes.size() < 2)) {
    throw UsageError("model weights do not match its shape", path, "export a trained model");
  }
  if (s.bias && !(s.bias_value >= 0)) {
    throw UsageError("liblinear cannot express a negative bias value", path,
                     "train with a bias value >= 0");
  }
  std::string out;
  out += "solver_type ";
  // An L1 model of a loss liblinear also trains with L1 (-s 6, -s 5) says so; the weights are
  // what predicts, so every other penalty keeps the loss's type.
  if (model.penalty == Penalty::kL1 && s.loss == Loss::kLogistic) {
    out += "L1R_LR";
  } else if (model.penalty == Penalty::kL1 && s.loss == Loss::kSquaredHinge) {
    out += "L1R_L2LOSS_SVC";
  } else {
    out += Info(s.loss).liblinear_type;
  }
  const int k = s.num_outputs();
  if (s.regression()) {
    out += "\nnr_class 2";  // liblinear's regression models: two "classes", no label line
  } else {
    out += "\nnr_class " + std::to_string(s.classes.size()) + "\nlabel";
    if (k == 1) {
      out += ' ';
      Append(out, s.classes[1]);
      out += ' ';
      Append(out, s.classes[0]);
    } else {
      for (double c : s.classes) {
        out += ' ';
        Append(out, c);
      }
    }
  }
  out += "\nnr_feature " + std::to_string(s.num_features) + "\nbias ";
  Append(out, s.bias ? s.bias_value : -1.0);
  out += "\nw\n";
  const std::int64_t dim = s.dim();
  for (std::int64_t j = 0; j < dim; ++j) {
    for (int o = 0; o < k; ++o) {
      Append(out, model.weights[static_cast<std::size_t>(o * dim + j)]);
      out += ' ';
    }
    out += '\n';
  }
  WriteFileAtomically(path, std::as_bytes(std::span(out.data(), out.size())), ExitCode::kData);
}

}  // namespace ringtrain::models
