// Trust-region Newton (--optimizer tron) against liblinear itself on heart_scale (C = 1,
// bias): the test runs Debian's liblinear-train (-s 0 LR, -s 2 L2-loss SVM, -B 1, tight -e),
// evaluates OUR objective at liblinear's weights as the reference, and requires tron over 1
// and 2 ranks (threads over a real loopback TCP ring) to reach it within 1e-4 relative with
// identical bits on every rank. Also: SaveState/RestoreState continues bit-identically, and
// objectives without a Hessian are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/error.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "support/subprocess.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "train/options.h"
#include "train/ring_threads.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";

// liblinear's weights (binary, with bias) mapped to our sign convention (class index 1 +).
std::vector<double> RunLiblinear(int solver, const ringtrain::testing::TempDir& dir,
                                 double positive_class) {
  std::string model = dir.File("liblinear_" + std::to_string(solver) + ".model");
  ringtrain::testing::Subprocess p({"/usr/bin/liblinear-train", "-s", std::to_string(solver), "-c",
                                    "1", "-B", "1", "-e", "0.0001", "-q", kHeart, model},
                                   {}, dir.File("ll.out"), dir.File("ll.err"));
  auto st = p.Wait(std::chrono::seconds(60));
  EXPECT_TRUE(st.exited && st.code == 0) << st.Describe();
  std::ifstream in(model);
  std::vector<double> labels, w;
  std::string line;
  bool in_w = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    double v;
    if (in_w) {
      while (ls >> v) w.push_back(v);
      continue;
    }
    std::string key;
    ls >> key;
    if (key == "label") {
      while (ls >> v) labels.push_back(v);
    } else if (key == "w") {
      in_w = true;
    }
  }
  EXPECT_EQ(labels.size(), 2u);
  if (!labels.empty() && labels[0] != positive_class)
    for (double& x : w) x = -x;
  return w;
}

TrainOptions HeartOptions(const std::string& loss) {
  TrainOptions o;
  o.optimizer = "tron";
  o.data = kHeart;
  o.model = loss == "logistic" ? "lr" : "svm";
  o.loss = loss;
  o.c = 1.0;
  o.bias = true;
  o.tol = 1e-7;
  o.epochs = 200;
  o.threads = 1;
  FinalizeAndValidate(o);
  return o;
}

double ObjectiveAt(const TrainOptions& o, std::vector<double> w) {
  allreduce::SelfCommunicator self;
  ShardedData data = LoadShardedData(o, self);
  EXPECT_EQ(static_cast<std::int64_t>(w.size()), data.spec.num_weights());
  LocalObjective local(data.spec, data.train, o.c);
  DistributedObjective f(local, self, data.global_rows);
  std::vector<double> g(w.size());
  return f.ValueGradient(w, g);
}

double PositiveClass(const TrainOptions& o) {
  allreduce::SelfCommunicator self;
  return LoadShardedData(o, self).spec.classes[1];
}

class TronHeartScale : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(TronHeartScale, ReachesLiblinearsObjectiveOnOneAndTwoRanks) {
  auto [loss, solver] = GetParam();
  ringtrain::testing::TempDir dir;
  TrainOptions o = HeartOptions(loss);
  const double reference = ObjectiveAt(o, RunLiblinear(solver, dir, PositiveClass(o)));
  ASSERT_TRUE(std::isfinite(reference));
  for (int world : {1, 2}) {
    SCOPED_TRACE("world " + std::to_string(world));
    std::vector<std::vector<double>> weights(static_cast<std::size_t>(world));
    double objective = 0;
    bool converged = false;
    std::int64_t epochs = 0;
    std::mutex mu;
    testing::RunRanks(world, [&](allreduce::Communicator& comm) {
      TrainResult r = Train(o, comm, RunInfo{});
      std::lock_guard<std::mutex> lock(mu);
      weights[static_cast<std::size_t>(comm.rank())] = r.state.model.weights;
      if (comm.rank() == 0) {
        objective = r.history.back().objective;
        converged = r.converged;
        epochs = static_cast<std::int64_t>(r.history.size());
      }
    });
    EXPECT_TRUE(converged) << "tron did not meet its stopping rule in " << epochs << " epochs";
    EXPECT_LE(std::fabs(objective - reference), 1e-4 * reference)
        << "tron " << objective << " liblinear " << reference;
    // The reported objective is the objective of the returned weights (up to the order of
    // the sum over shards).
    EXPECT_NEAR(ObjectiveAt(o, weights[0]), objective, 1e-12 * objective);
    for (const auto& w : weights) EXPECT_EQ(w, weights[0]) << "ranks disagree in bits";
  }
}

INSTANTIATE_TEST_SUITE_P(Losses, TronHeartScale,
                         ::testing::Values(std::make_pair("logistic", 0),
                                           std::make_pair("squared_hinge", 2)));

TEST(TronState, RestoredOptimizerContinuesBitIdentically) {
  TrainOptions o = HeartOptions("logistic");
  allreduce::SelfCommunicator self;
  ShardedData data = LoadShardedData(o, self);
  LocalObjective local(data.spec, data.train, o.c);
  DistributedObjective f(local, self, data.global_rows);
  TronOptions to;
  to.tol = 1e-12;
  auto a = MakeTron(f, to);
  std::vector<double> w(static_cast<std::size_t>(data.spec.num_weights()), 0.0);
  for (int e = 1; e <= 2; ++e) a->RunEpoch(w, e);
  const std::vector<double> state = a->SaveState();
  std::vector<double> w_b = w;
  auto b = MakeTron(f, to);
  b->RestoreState(state);
  EXPECT_EQ(b->SaveState(), state);
  for (int e = 3; e <= 5; ++e) {
    EpochReport ra = a->RunEpoch(w, e);
    EpochReport rb = b->RunEpoch(w_b, e);
    EXPECT_EQ(ra.objective, rb.objective);
    EXPECT_EQ(w, w_b);
  }
  EXPECT_NE(a->SaveState(), state) << "three more epochs must move the state";
  // A state of the wrong shape is a CheckpointError, not a silent misread.
  std::vector<double> short_state(state.begin(), state.end() - 1);
  EXPECT_THROW(b->RestoreState(short_state), CheckpointError);
}

TEST(TronState, DescendsMonotonically) {
  TrainOptions o = HeartOptions("squared_hinge");
  allreduce::SelfCommunicator self;
  ShardedData data = LoadShardedData(o, self);
  LocalObjective local(data.spec, data.train, o.c);
  DistributedObjective f(local, self, data.global_rows);
  auto t = MakeTron(f, TronOptions{});
  std::vector<double> w(static_cast<std::size_t>(data.spec.num_weights()), 0.0);
  double prev = INFINITY;
  for (int e = 1; e <= 10; ++e) {
    EpochReport r = t->RunEpoch(w, e);
    EXPECT_LE(r.objective, prev);
    prev = r.objective;
    if (r.converged) break;
  }
  EXPECT_LT(prev, ObjectiveAt(o, std::vector<double>(w.size(), 0.0)));
}

TEST(TronOptionsTest, RefusesLossesWithoutAHessian) {
  TrainOptions o;
  o.data = kHeart;
  o.optimizer = "tron";
  o.model = "svm";
  o.loss = "hinge";
  EXPECT_THROW(FinalizeAndValidate(o), UsageError);
  o = TrainOptions{};
  o.data = kHeart;
  o.optimizer = "tron";
  o.multiclass = "multinomial";
  EXPECT_THROW(FinalizeAndValidate(o), UsageError);
}

}  // namespace
}  // namespace ringtrain::train
