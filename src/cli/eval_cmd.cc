// cli/eval_cmd.cc — `ringtrain eval`: accuracy, objective, log-loss, AUC (binary) and the
// confusion matrix of a model on a labelled data file, printed to stdout (--json: one JSON
// object).
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "common/error.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "train/trainer.h"

namespace ringtrain::cli {
namespace {

struct EvalOptions {
  std::string model, data, labels, format;
  double c = 1.0;
  bool json = false;
};

int RunEval(const EvalOptions& o) {
  if (!(o.c > 0)) throw UsageError("--C must be > 0", "ringtrain eval");
  models::LinearModel model = models::LoadModel(o.model);
  models::ReadOptions ro;
  ro.path = o.data;
  ro.labels_path = o.labels;
  ro.format = o.format.empty() ? models::GuessFormat(o.data) : models::ParseFormat(o.format);
  if (ro.format == models::Format::kIdx && o.labels.empty())
    throw UsageError("--labels is required for IDX data", o.data);
  models::Dataset data = models::ReadShard(ro);
  train::FitFeatures(data, model.spec.num_features);
  models::AssignClasses(data, model.spec.classes, o.data);
  models::EvalSums sums = models::Evaluate(model, data);
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
  if (loss.probabilistic && sums.rows > 0) j["log_loss"] = sums.log_loss_sum / sums.rows;
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
  sub->add_option("--labels", o->labels, "IDX labels file");
  sub->add_option("--format", o->format, "libsvm|idx|csv (default: from the file name)");
  sub->add_option("--C", o->c, "C of the objective 0.5|w|^2 + C sum loss")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->callback([run, o] { *run = [o] { return RunEval(*o); }; });
}

}  // namespace ringtrain::cli
