// cli/eval_cmd.cc — `ringtrain eval`: accuracy, objective, log-loss, AUC (binary) and the
// confusion matrix of a model on a labelled data file, printed to stdout (--json: one JSON
// object). The data file is described by the same reader options as train's --data. Rows of a
// class the model never saw count as errors in the accuracy (one warning names the classes);
// the objective, log-loss, AUC and confusion matrix cover the other rows.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/options.h"
#include "common/error.h"
#include "common/log.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "train/trainer.h"

namespace ringtrain::cli {
namespace {

struct EvalOptions {
  std::string model, data;
  std::string labels, format;  // the reader fields (train::VisitReaderFields)
  int label_column = 0;
  double c = 1.0;
  bool json = false;
};

int RunEval(const EvalOptions& o) {
  if (!(o.c > 0)) throw UsageError("--C must be > 0", "ringtrain eval");
  models::LinearModel model = models::LoadModel(o.model);
  models::Dataset data = models::ReadShard(train::ReaderOptions(o, o.data, o.labels, "--labels"));
  train::FitFeatures(data, model.spec.num_features);
  // Rows of a class the model never saw are evaluated as errors (like liblinear-predict).
  const std::vector<double> unseen = models::AssignClasses(data, model.spec.classes);
  models::EvalSums sums = models::Evaluate(model, data);
  if (!unseen.empty())
    log::Warn(models::UnseenClassesWarning(o.data, unseen, sums.unseen, sums.rows));
  const double seen_rows = sums.rows - sums.unseen;
  double sq = 0;
  for (double w : model.weights) sq += w * w;
  const std::size_t k = model.spec.classes.size();
  nlohmann::json j;
  j["rows"] = sums.rows;
  j["accuracy"] = sums.rows > 0 ? sums.correct / sums.rows : 0.0;
  j["objective"] = 0.5 * sq + o.c * sums.loss_sum;
  j["C"] = o.c;
  const models::LossInfo& loss = models::Info(model.spec.loss);
  j["loss"] = loss.name;
  j["unseen_rows"] = sums.unseen;
  j["unseen_classes"] = unseen;
  if (loss.probabilistic && seen_rows > 0) j["log_loss"] = sums.log_loss_sum / seen_rows;
  if (k == 2) {
    auto scores = models::DecisionValues(model, data);
    j["auc"] = models::BinaryAuc(scores, data.class_index);
  }
  j["classes"] = model.spec.classes;
  nlohmann::json confusion = nlohmann::json::array();
  for (std::size_t t = 0; t < k; ++t) {
    nlohmann::json row = nlohmann::json::array();
    for (std::size_t p = 0; p < k; ++p) row.push_back(sums.confusion[t * k + p]);
    confusion.push_back(row);
  }
  j["confusion"] = confusion;
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("rows       %.0f\naccuracy   %.6f\nobjective  %.10g (C = %g)\n", sums.rows,
              j["accuracy"].get<double>(), j["objective"].get<double>(), o.c);
  if (!unseen.empty()) {
    std::printf(
        "unseen     %.0f rows of classes the model never saw: %s (counted as errors; "
        "left out of the objective, log_loss, auc and confusion)\n",
        sums.unseen, models::LabelList(unseen, 10).c_str());
  }
  if (j.contains("log_loss")) std::printf("log_loss   %.6f\n", j["log_loss"].get<double>());
  if (j.contains("auc")) std::printf("auc        %.6f\n", j["auc"].get<double>());
  std::printf("confusion (rows: true, columns: predicted)\n%10s", "");
  for (double c : model.spec.classes) std::printf(" %9g", c);
  std::printf("\n");
  for (std::size_t t = 0; t < k; ++t) {
    std::printf("%10g", model.spec.classes[t]);
    for (std::size_t p = 0; p < k; ++p) std::printf(" %9.0f", sums.confusion[t * k + p]);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

void AddEvalCommand(CLI::App& app, RunFn* run) {
  CLI::App* sub = app.add_subcommand("eval", "evaluate a model on labelled data");
  auto o = std::make_shared<EvalOptions>();
  sub->add_option("--model", o->model, "model file written by train")->required();
  sub->add_option("--data", o->data, "data file (IDX: images)")->required();
  RegisterReaderOptions(*sub, *o);  // --labels, --format, --label-column: as train reads --data
  sub->add_option("--C", o->c, "C of the objective 0.5|w|^2 + C sum loss")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->callback([run, o] { *run = [o] { return RunEval(*o); }; });
}

}  // namespace ringtrain::cli
