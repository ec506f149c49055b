// cli/predict_cmd.cc — `ringtrain predict`: labels (or class probabilities) of a data file.
//
// Output, one line per row, to --output (written atomically) or stdout:
//   labels:         "<label>"
//   --probabilities liblinear-predict -b 1 shape: a header "labels c1 c2 ..." then
//                   "<label> p1 p2 ..." per row.
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "cli/command.h"
#include "cli/options.h"
#include "common/error.h"
#include "common/file_util.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "train/trainer.h"

namespace ringtrain::cli {
namespace {

struct PredictOptions {
  std::string model, data, output;
  std::string labels, format;  // the reader fields (train::VisitReaderFields)
  int label_column = 0;
  std::string weight_column;  // CSV: 0-based instance weights column ("" = none, -1 = last)
  bool probabilities = false;
};

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

int RunPredict(const PredictOptions& o) {
  models::LinearModel model = models::LoadModel(o.model);
  models::Dataset data = models::ReadShard(train::ReaderOptions(o, o.data, o.labels, "--labels"));
  train::FitFeatures(data, model.spec.num_features);
  std::string out;
  auto predicted = models::PredictLabels(model, data);
  if (o.probabilities) {
    if (!models::Info(model.spec.loss).probabilistic)
      throw UsageError("--probabilities needs a logistic-regression model", o.model,
                       "predict labels only for SVM models");
    auto probs = models::PredictProbabilities(model, data);
    const std::size_t k = model.spec.classes.size();
    out += "labels";
    for (double c : model.spec.classes) out += " " + Num(c);
    out += "\n";
    for (std::size_t r = 0; r < predicted.size(); ++r) {
      out += Num(predicted[r]);
      for (std::size_t j = 0; j < k; ++j) out += " " + Num(probs[r * k + j]);
      out += "\n";
    }
  } else {
    for (double label : predicted) out += Num(label) + "\n";
  }
  if (o.output.empty()) {
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    WriteFileAtomically(o.output, std::as_bytes(std::span<const char>(out.data(), out.size())),
                        ExitCode::kData);
  }
  return 0;
}

}  // namespace

void AddPredictCommand(CLI::App& app, RunFn* run) {
  CLI::App* sub = app.add_subcommand("predict", "predict labels or probabilities");
  auto o = std::make_shared<PredictOptions>();
  sub->add_option("--model", o->model, "model file written by train")->required();
  sub->add_option("--data", o->data, "data file (IDX: images)")->required();
  RegisterReaderOptions(*sub, *o);  // --labels, --format, --label-column: as train reads --data
  sub->add_option("--output", o->output, "output file (default: stdout)");
  sub->add_flag("--probabilities", o->probabilities, "class probabilities (LR models)");
  sub->callback([run, o] { *run = [o] { return RunPredict(*o); }; });
}

}  // namespace ringtrain::cli
