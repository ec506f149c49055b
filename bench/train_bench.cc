// bench/train_bench.cc — scores a liblinear text model with OUR objective and evaluation,
// so scripts/bench_train.sh can put liblinear-train and ringtrain side by side on the same
// numbers: prints one JSON line {objective, train_accuracy, test_accuracy, test_log_loss
// (logistic), test_auc (binary), classes, dim}. Also the one scorer of scripts/bench_scale.sh
// (ringtrain models go through `ringtrain export`, XGBoost's are written in liblinear's format).
//
//   train_bench --liblinear-model M --data TRAIN.svm [--test-data TEST.svm] --C 1
//               --loss logistic|squared_hinge|hinge
//
// liblinear's layout: "label l1 l2 ..." (its class order, the first is the positive class of
// a binary model), then w as nr_feature(+1 with bias) rows of nr_w columns (nr_w = 1 for
// two classes, else nr_class, OVR). We map it onto our sorted classes.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/error.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "train/objective.h"
#include "train/trainer.h"

namespace {

using namespace ringtrain;

struct LiblinearModel {
  std::vector<double> labels;
  std::int64_t nr_feature = 0;
  double bias = -1;
  std::vector<double> w;  // row-major (nr_feature(+1)) x nr_w
};

LiblinearModel ReadLiblinear(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError("cannot open the liblinear model", path);
  LiblinearModel m;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "label") {
      double v;
      while (ls >> v) m.labels.push_back(v);
    } else if (key == "nr_feature") {
      ls >> m.nr_feature;
    } else if (key == "bias") {
      ls >> m.bias;
    } else if (key == "w") {
      double v;
      while (in >> v) m.w.push_back(v);
    }
  }
  return m;
}

int Run(int argc, char** argv) {
  CLI::App app{"score a liblinear model with ringtrain's objective"};
  std::string model_path, data, test_data, loss = "logistic";
  double c = 1.0;
  app.add_option("--liblinear-model", model_path)->required();
  app.add_option("--data", data)->required();
  app.add_option("--test-data", test_data);
  app.add_option("--C", c);
  app.add_option("--loss", loss);
  CLI11_PARSE(app, argc, argv);

  LiblinearModel ll = ReadLiblinear(model_path);
  train::TrainOptions o;
  o.data = data;
  o.test_data = test_data;
  o.model = loss == "logistic" ? "lr" : "svm";
  o.loss = loss;
  o.c = c;
  o.bias = ll.bias > 0;
  train::FinalizeAndValidate(o);
  allreduce::SelfCommunicator self;
  train::ShardedData d = train::LoadShardedData(o, self);
  const auto& spec = d.spec;
  const std::int64_t dim = spec.dim(), outputs = spec.num_outputs();
  const std::int64_t nr_w = ll.labels.size() == 2 ? 1 : static_cast<std::int64_t>(ll.labels.size());
  const std::int64_t ll_rows = ll.nr_feature + (ll.bias > 0 ? 1 : 0);
  if (static_cast<std::int64_t>(ll.w.size()) != ll_rows * nr_w || nr_w != outputs)
    throw DataError("the liblinear model does not fit the data's shape", model_path);
  models::LinearModel model;
  model.spec = spec;
  model.weights.assign(static_cast<std::size_t>(spec.num_weights()), 0.0);
  for (std::int64_t o_idx = 0; o_idx < outputs; ++o_idx) {
    // Our output o is class o (OVR) or, binary, "class index 1 positive".
    std::int64_t col = 0;
    double sign = 1.0;
    if (outputs == 1) {
      sign = ll.labels[0] == spec.classes[1] ? 1.0 : -1.0;
    } else {
      col = std::find(ll.labels.begin(), ll.labels.end(),
                      spec.classes[static_cast<std::size_t>(o_idx)]) -
            ll.labels.begin();
    }
    for (std::int64_t j = 0; j < std::min(ll.nr_feature, spec.num_features); ++j)
      model.weights[static_cast<std::size_t>(o_idx * dim + j)] =
          sign * ll.w[static_cast<std::size_t>(j * nr_w + col)];
    if (spec.bias)
      model.weights[static_cast<std::size_t>(o_idx * dim + dim - 1)] =
          sign * ll.w[static_cast<std::size_t>(ll.nr_feature * nr_w + col)];
  }
  train::LocalObjective local(model.spec, d.train, c);
  train::DistributedObjective f(local, self, d.global_rows);
  std::vector<double> g(model.weights.size());
  nlohmann::json j;
  j["objective"] = f.ValueGradient(model.weights, g);
  auto tr = models::Evaluate(model, d.train);
  j["train_accuracy"] = tr.correct / tr.rows;
  if (d.has_test) {
    auto te = models::Evaluate(model, d.test);
    j["test_accuracy"] = te.correct / te.rows;
    // Log loss only for probabilistic (logistic) models; AUC only for binary ones.
    j["test_log_loss"] = loss == "logistic" ? nlohmann::json(te.log_loss_sum / te.rows) : nullptr;
    j["test_auc"] = nullptr;
    if (outputs == 1)
      j["test_auc"] = models::BinaryAuc(models::DecisionValues(model, d.test), d.test.class_index);
  }
  j["classes"] = spec.classes.size();
  j["dim"] = dim;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const ringtrain::Error& e) {
    std::fprintf(stderr, "train_bench: %s\n", e.what());
    return static_cast<int>(e.code());
  }
}
