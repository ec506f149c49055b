// tests/train/early_stop_test.cc — held-out evaluation while training: --validation-data with
// --early-stop keeps the best epoch, --init-model warm-starts from a model of the same shape
// (and refuses another naming both shapes), and the per-epoch ROC / PR AUC of a set spread
// over several ranks equal a slow exact computation on the whole set. Ranks are threads over
// a real loopback TCP ring.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/error.h"
#include "models/linear_model.h"
#include "support/subprocess.h"
#include "train/heart_reference.h"
#include "train/options.h"
#include "train/ring_threads.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

using ringtrain::testing::TempDir;

// heart_scale's first 200 rows to train on, the other 70 held out.
struct Split {
  TempDir dir;
  std::string train = dir.File("train.txt"), held = dir.File("held.txt");
  Split() {
    std::ifstream in(testing::kHeart);
    std::ofstream a(train), b(held);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) (i < 200 ? a : b) << line << '\n';
  }
};

struct Outcome {
  std::vector<EpochMetrics> history;
  std::vector<std::vector<double>> weights_by_epoch;  // rank 0, after each epoch
  TrainResult result;                                 // rank 0
};

Outcome TrainOn(const TrainOptions& o, int world) {
  Outcome run;
  std::mutex mu;
  testing::RunRanks(world, [&](allreduce::Communicator& comm) {
    TrainHooks hooks;
    std::vector<std::vector<double>> mine;
    hooks.after_epoch = [&](const TrainState& s, const EpochMetrics&) {
      mine.push_back(s.model.weights);
    };
    TrainResult r = Train(o, comm, RunInfo{}, hooks);
    if (comm.rank() != 0) return;
    std::lock_guard<std::mutex> lock(mu);
    run.history = r.history;
    run.weights_by_epoch = mine;
    run.result = r;
  });
  return run;
}

double Metric(const std::vector<std::pair<std::string, double>>& m, const std::string& name) {
  for (const auto& [k, v] : m)
    if (k == name) return v;
  return std::nan("");
}

TrainOptions SgdOptions(const Split& s, int early_stop, const std::string& metric) {
  TrainOptions o;
  o.data = s.train;
  o.validation_data = s.held;
  o.optimizer = "sgd";
  o.batch_size = 16;
  o.lr = 0.5;
  o.epochs = 40;
  o.early_stop = early_stop;
  o.early_stop_metric = metric;
  o.threads = 1;
  FinalizeAndValidate(o);
  return o;
}

// The reference: the same run without stopping; the first epoch after which `patience` epochs
// bring no strict improvement of the validation metric is where early stopping must end, and
// the best epoch before it is the model it must keep.
void ExpectBestEpochKept(const std::string& metric, bool higher_better, int world) {
  SCOPED_TRACE(metric + " on " + std::to_string(world) + " ranks");
  Split s;
  const int patience = 3;
  const Outcome full = TrainOn(SgdOptions(s, 0, metric), world);
  ASSERT_EQ(full.history.size(), 40u);
  std::size_t best = 0, stop = full.history.size() - 1;
  for (std::size_t e = 0; e < full.history.size(); ++e) {
    const double v = Metric(full.history[e].validation_metrics, metric);
    const double b = Metric(full.history[best].validation_metrics, metric);
    ASSERT_TRUE(std::isfinite(v)) << "validation_" << metric << " missing at epoch " << e + 1;
    if (higher_better ? v > b : v < b) best = e;
    if (e - best >= static_cast<std::size_t>(patience)) {
      stop = e;
      break;
    }
  }
  ASSERT_LT(stop, full.history.size() - 1) << "the metric kept improving: no early stop to test";
  const Outcome early = TrainOn(SgdOptions(s, patience, metric), world);
  EXPECT_EQ(early.history.size(), stop + 1);
  EXPECT_EQ(early.result.stop_reason, "early_stop");
  EXPECT_EQ(early.result.best_epoch, static_cast<std::int64_t>(best + 1));
  EXPECT_EQ(early.result.state.model.epoch, static_cast<std::int64_t>(best + 1));
  EXPECT_EQ(early.result.state.model.weights, full.weights_by_epoch[best])
      << "the kept model is not the best epoch's";
  EXPECT_EQ(early.history.back().stop_reason, "early_stop");
}

TEST(EarlyStop, KeepsTheBestEpochByAHigherIsBetterMetric) { ExpectBestEpochKept("auc", true, 2); }
TEST(EarlyStop, KeepsTheBestEpochByALowerIsBetterMetric) {
  ExpectBestEpochKept("log_loss", false, 1);
}

TEST(EarlyStop, OptionsThatCannotWorkAreRefused) {
  Split s;
  TrainOptions o;
  o.data = s.train;
  o.early_stop = 3;
  EXPECT_THROW(FinalizeAndValidate(o), UsageError);  // no --validation-data
  o.validation_data = s.held;
  o.early_stop_metric = "mse";  // a regression metric for a classifier
  try {
    FinalizeAndValidate(o);
    ADD_FAILURE() << "mse accepted for a classifier";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--early-stop-metric"), std::string::npos) << e.what();
  }
  o.early_stop_metric = "";
  FinalizeAndValidate(o);
  EXPECT_EQ(o.choices.early_stop_metric, "accuracy");  // the loss's default metric
  EXPECT_EQ(o.early_stop_metric, "");                  // the field keeps what was given
}

// Per-epoch AUC over a set spread on 3 ranks == all-pairs AUC of the final model on the file.
TEST(EpochMetrics, AucOfAShardedSetEqualsTheExactAucOfTheWholeSet) {
  Split s;
  TrainOptions o;
  o.data = s.train;
  o.test_data = s.held;
  o.epochs = 3;
  o.threads = 1;
  FinalizeAndValidate(o);
  const Outcome r = TrainOn(o, 3);
  const double auc = Metric(r.history.back().test_metrics, "auc");
  ASSERT_TRUE(std::isfinite(auc));
  // Slow exact AUC: P(score of a positive > score of a negative) + 0.5 P(tie), over all pairs.
  allreduce::SelfCommunicator self;
  ShardedData d = LoadShardedData(o, self);
  models::LinearModel m = r.result.state.model;
  const std::vector<double> scores = models::DecisionValues(m, d.test);
  double pairs = 0, wins = 0;
  for (std::size_t i = 0; i < scores.size(); ++i)
    for (std::size_t j = 0; j < scores.size(); ++j) {
      if (d.test.class_index[i] != 1 || d.test.class_index[j] != 0) continue;
      pairs += 1;
      wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
    }
  ASSERT_GT(pairs, 0);
  EXPECT_NEAR(auc, wins / pairs, 1e-12);
  EXPECT_TRUE(std::isfinite(Metric(r.history.back().test_metrics, "pr_auc")));
  EXPECT_TRUE(std::isfinite(Metric(r.history.back().train_metrics, "auc")));
  // The confusion matrix of the sharded set: every row once, its diagonal the accuracy.
  const std::vector<double>& cm = r.history.back().test_confusion;
  ASSERT_EQ(cm.size(), 4u);
  EXPECT_EQ(cm[0] + cm[1] + cm[2] + cm[3], 70.0);
  EXPECT_NEAR((cm[0] + cm[3]) / 70.0, Metric(r.history.back().test_metrics, "accuracy"), 1e-15);
  const std::string json = r.history.back().ToJson();
  EXPECT_NE(json.find("\"test_confusion\":[["), std::string::npos) << json;
}

TEST(InitModel, AWarmStartAtTwiceCReachesTheColdOptimumInFewerEpochs) {
  Split s;
  TrainOptions at1;
  at1.data = s.train;
  at1.tol = 1e-6;
  at1.threads = 1;
  at1.output = s.dir.File("c1.model");
  FinalizeAndValidate(at1);
  TrainOn(at1, 2);
  TrainOptions cold = at1;
  cold.c = 2;
  cold.output.clear();
  TrainOptions warm = cold;
  warm.init_model = at1.output;
  const Outcome rc = TrainOn(cold, 2), rw = TrainOn(warm, 2);
  EXPECT_TRUE(rc.result.converged);
  EXPECT_TRUE(rw.result.converged);
  EXPECT_LT(rw.history.size(), rc.history.size());
  const double fc = rc.history.back().objective, fw = rw.history.back().objective;
  EXPECT_NEAR(fw, fc, 1e-6 * fc);
}

TEST(InitModel, AModelOfAnotherShapeIsRefusedNamingBothShapes) {
  Split s;
  TrainOptions a;
  a.data = s.train;
  a.threads = 1;
  a.output = s.dir.File("bias.model");
  FinalizeAndValidate(a);
  TrainOn(a, 1);
  TrainOptions b = a;
  b.output.clear();
  b.bias = false;
  b.init_model = a.output;
  try {
    TrainOn(b, 2);
    ADD_FAILURE() << "a model with a bias weight started a run without one";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("13 features + bias x 1 output"), std::string::npos) << what;
    EXPECT_NE(what.find("give 13 features x 1 output"), std::string::npos) << what;
    EXPECT_NE(what.find(a.output), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ringtrain::train
