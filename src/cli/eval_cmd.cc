// cli/eval_cmd.cc — `ringtrain eval`: the objective (at the C the model file records) and the
// metrics of the model's task on a labelled data file — classification: accuracy, log_loss
// (LR), macro_f1, ROC AUC and PR AUC (binary), the confusion matrix; regression: mse, mae,
// r2 — printed to stdout (--json: one JSON object). The data file is described by the same
// reader options as train's --data. Rows of a class the model never saw count as errors in
// the accuracy (one warning names the classes); the objective, log-loss, AUC and confusion
// matrix cover the other rows.
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
  std::string weight_column;  // CSV: 0-based instance weights column ("" = none, -1 = last)
  double c = 0;               // 0: the C the model file records (1 for version-1 files)
  bool json = false;
};

int RunEval(const EvalOptions& o) {
  if (!(o.c >= 0)) throw UsageError("--C must be > 0", "ringtrain eval");
  models::LinearModel model = models::LoadModel(o.model);
  const double c = o.c > 0 ? o.c : model.c > 0 ? model.c : 1.0;
  models::Dataset data = models::ReadShard(train::ReaderOptions(o, o.data, o.labels, "--labels"));
  train::FitFeatures(data, model.spec.num_features);
  // Rows of a class the model never saw are evaluated as errors (like liblinear-predict).
  std::vector<double> unseen;
  if (!model.spec.regression()) unseen = models::AssignClasses(data, model.spec.classes);
  std::vector<double> scores;  // the decision values the sums came from (AUC reuses them)
  models::EvalSums sums = models::Evaluate(model, data, &scores);
  if (!unseen.empty())
    log::Warn(models::UnseenClassesWarning(o.data, unseen, sums.unseen, sums.rows));
  const std::size_t k = model.spec.classes.size();
  const models::LossInfo& loss = models::Info(model.spec.loss);
  nlohmann::json j;
  j["rows"] = sums.rows;
  j["loss"] = loss.name;
  j["objective"] = model.regularizer().Value(model.weights) + c * sums.loss_sum;
  j["C"] = c;
  j["penalty"] = models::ToString(model.penalty);
  if (model.penalty == models::Penalty::kElastic) j["l1_ratio"] = model.l1_ratio;
  j["nonzero_weights"] = model.nonzero_weights();
  if (loss.uses_epsilon) j["epsilon"] = model.spec.epsilon;
  std::vector<std::string> order;
  for (const auto& [name, v] : models::TaskMetrics(model.spec, sums)) {
    j[name] = v;
    order.push_back(name);
  }
  if (k == 2) {
    j["auc"] = models::BinaryAuc(scores, data.class_index);
    j["pr_auc"] = models::BinaryPrAuc(scores, data.class_index);
    order.push_back("auc");
    order.push_back("pr_auc");
  }
  if (!model.spec.regression()) {
    j["unseen_rows"] = sums.unseen;
    j["unseen_classes"] = unseen;
    j["classes"] = model.spec.classes;
    nlohmann::json confusion = nlohmann::json::array();
    for (std::size_t t = 0; t < k; ++t) {
      nlohmann::json row = nlohmann::json::array();
      for (std::size_t p = 0; p < k; ++p) row.push_back(sums.confusion[t * k + p]);
      confusion.push_back(row);
    }
    j["confusion"] = confusion;
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf(
      "rows       %.0f\nobjective  %.10g (C = %g, %s, penalty %s)\nnonzero    %lld of %zu "
      "weights\n",
      sums.rows, j["objective"].get<double>(), c, std::string(loss.name).c_str(),
      models::ToString(model.penalty).c_str(), static_cast<long long>(model.nonzero_weights()),
      model.weights.size());
  for (const std::string& name : order) {
    const auto& v = j[name];
    if (v.is_number()) {
      std::printf("%-10s %.6f\n", name.c_str(), v.get<double>());
    } else {
      std::printf("%-10s -\n", name.c_str());
    }
  }
  if (model.spec.regression()) return 0;
  if (!unseen.empty()) {
    std::printf(
        "unseen     %.0f rows of classes the model never saw: %s (counted as errors; "
        "left out of the objective, log_loss, auc and confusion)\n",
        sums.unseen, models::LabelList(unseen, 10).c_str());
  }
  std::printf("confusion (rows: true, columns: predicted)\n%10s", "");
  for (double cl : model.spec.classes) std::printf(" %9g", cl);
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
  sub->add_option("--C", o->c,
                  "C of the objective R(w) + C sum loss, R the model's penalty (default: the C "
                  "the model file records)");
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->callback([run, o] { *run = [o] { return RunEval(*o); }; });
}

}  // namespace ringtrain::cli
