// heart_scale against liblinear itself (C = 1, bias): the test runs Debian's liblinear-train
// (-s 0 LR, -s 2 L2-loss SVM, -B 1, tight -e), reads its model file and evaluates OUR
// objective at liblinear's weights as the reference. Our lbfgs, over 1, 2 and 4 ranks
// (threads over a real loopback TCP ring), must reach it within 1e-4 relative; distributed
// must equal single-rank within 1e-6; the same ring twice gives identical bits on every rank.
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "support/subprocess.h"
#include "train/heart_reference.h"
#include "train/objective.h"
#include "train/options.h"
#include "train/ring_threads.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

using testing::LiblinearObjective;
using testing::RunLiblinear;

// Epochs are a cap: the stopping rule (tol 1e-7) ends the runs first.
TrainOptions HeartOptions(const std::string& loss, const std::string& optimizer = "lbfgs") {
  return testing::HeartOptions(loss, optimizer, 1000);
}

struct RankOutcome {
  std::vector<std::vector<double>> weights;  // per rank
  double objective = 0;
};

RankOutcome TrainOnRanks(const TrainOptions& o, int world) {
  RankOutcome out;
  out.weights.resize(static_cast<std::size_t>(world));
  std::mutex mu;
  testing::RunRanks(world, [&](allreduce::Communicator& comm) {
    TrainResult r = Train(o, comm, RunInfo{});
    std::lock_guard<std::mutex> lock(mu);
    out.weights[static_cast<std::size_t>(comm.rank())] = r.state.model.weights;
    if (comm.rank() == 0) out.objective = r.history.back().objective;
  });
  return out;
}

class HeartScale : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(HeartScale, LbfgsReachesLiblinearsObjectiveOn124Ranks) {
  auto [loss, solver] = GetParam();
  ringtrain::testing::TempDir dir;
  TrainOptions o = HeartOptions(loss);
  const double reference = LiblinearObjective(o, RunLiblinear(solver, dir));
  ASSERT_TRUE(std::isfinite(reference));
  double single = 0;
  for (int world : {1, 2, 4}) {
    SCOPED_TRACE("world " + std::to_string(world));
    RankOutcome r = TrainOnRanks(o, world);
    EXPECT_LE(std::fabs(r.objective - reference), 1e-4 * reference)
        << "ours " << r.objective << " liblinear " << reference;
    for (const auto& w : r.weights) EXPECT_EQ(w, r.weights[0]) << "ranks disagree in bits";
    if (world == 1) single = r.objective;
    EXPECT_LE(std::fabs(r.objective - single), 1e-6 * single);
  }
}

INSTANTIATE_TEST_SUITE_P(Losses, HeartScale,
                         ::testing::Values(std::make_pair("logistic", 0),
                                           std::make_pair("squared_hinge", 2)));

TEST(HeartScaleRepeat, SameRingAndSeedGiveIdenticalBits) {
  TrainOptions o = HeartOptions("logistic");
  o.optimizer = "sgd";
  o.epochs = 5;
  o.batch_size = 16;
  o.lr = 0.05;
  o.seed = 11;
  FinalizeAndValidate(o);
  RankOutcome a = TrainOnRanks(o, 3);
  RankOutcome b = TrainOnRanks(o, 3);
  EXPECT_EQ(a.weights[0], b.weights[0]);
  EXPECT_EQ(a.weights[2], b.weights[0]);
  o.seed = 12;
  RankOutcome c = TrainOnRanks(o, 3);
  EXPECT_NE(a.weights[0], c.weights[0]) << "the seed must change the shuffle";
}

TEST(HeartScaleSgd, HingeSgdGetsCloseToTheOptimum) {
  ringtrain::testing::TempDir dir;
  TrainOptions o = HeartOptions("hinge", "sgd");
  o.epochs = 200;
  o.batch_size = 8;
  o.lr = 0.05;
  o.lr_decay = 0.005;
  o.momentum = 0.5;
  FinalizeAndValidate(o);
  // Reference: liblinear -s 3 (L1-loss SVM, dual) at the same C and bias.
  const double reference = LiblinearObjective(o, RunLiblinear(3, dir));
  RankOutcome r = TrainOnRanks(o, 2);
  EXPECT_LE(r.objective, 1.02 * reference) << "ours " << r.objective << " liblinear " << reference;
  EXPECT_GE(r.objective, reference * (1 - 1e-3));
}

TEST(MoreRanksThanRows, EmptyShardsTakePartAndTheResultIsCorrect) {
  ringtrain::testing::TempDir dir;
  std::string path = dir.File("tiny.libsvm");
  {
    std::ofstream f(path);
    f << "1 1:0.5 3:1\n-1 2:1 3:-0.5\n1 1:1 2:0.25\n";
  }
  TrainOptions o;
  o.data = path;
  o.bias = true;
  o.tol = 1e-8;
  o.threads = 1;
  FinalizeAndValidate(o);
  RankOutcome one = TrainOnRanks(o, 1);
  RankOutcome five = TrainOnRanks(o, 5);
  EXPECT_LE(std::fabs(five.objective - one.objective), 1e-6 * one.objective);
  for (const auto& w : five.weights) EXPECT_EQ(w, five.weights[0]);
  o.optimizer = "sgd";
  o.epochs = 3;
  o.batch_size = 1;
  FinalizeAndValidate(o);
  RankOutcome sgd = TrainOnRanks(o, 5);  // 3 steps per epoch agreed; empty ranks pass none
  for (const auto& w : sgd.weights) EXPECT_EQ(w, sgd.weights[0]);
}

}  // namespace
}  // namespace ringtrain::train
