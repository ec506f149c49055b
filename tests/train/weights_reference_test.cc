// tests/train/weights_reference_test.cc — class and instance weights (C_i = C * weight).
// Class weights against liblinear itself: the test runs Debian's liblinear-train with -w1 2
// on heart_scale (-s 0 logistic, -s 2 squared hinge; -B 1, tight -e) and evaluates OUR
// weighted objective at liblinear's weights; ours on 1, 2 and 3 ranks (threads over a real
// loopback ring) must be within 1e-5 and equal across ranks within 1e-6. Instance weights
// (Debian's liblinear has no -W) against their definition: integer weights equal repeating
// each row that many times (and liblinear on the repeated file). Bad weights: one line each.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/error.h"
#include "support/subprocess.h"
#include "train/heart_reference.h"
#include "train/options.h"
#include "train/ring_threads.h"
#include "train/trainer.h"
#include "train/weights.h"

namespace ringtrain::train {
namespace {

using ringtrain::testing::TempDir;
using testing::kHeart;

// liblinear-train -s solver -c 1 -B 1 -e 1e-8 [extra] data; its weights mapped to our sign.
std::vector<double> RunLiblinear(int solver, const std::vector<std::string>& extra,
                                 const std::string& data, const TempDir& dir,
                                 const TrainOptions& o) {
  std::vector<std::string> args = {"-s",        std::to_string(solver), "-c", "1", "-B", "1", "-e",
                                   "0.00000001"};
  args.insert(args.end(), extra.begin(), extra.end());
  testing::Liblinear ll = testing::RunLiblinearTrain(args, data, dir);
  allreduce::SelfCommunicator self;
  const double positive = LoadShardedData(o, self).spec.classes[1];
  if (!ll.labels.empty() && ll.labels[0] != positive)
    for (double& v : ll.w) v = -v;
  return ll.w;
}

double TrainedObjective(const TrainOptions& o, int world, std::vector<double>* weights = nullptr) {
  double objective = 0;
  std::vector<std::vector<double>> w(static_cast<std::size_t>(world));
  std::mutex mu;
  testing::RunRanks(world, [&](allreduce::Communicator& comm) {
    TrainResult r = Train(o, comm, RunInfo{});
    std::lock_guard<std::mutex> lock(mu);
    w[static_cast<std::size_t>(comm.rank())] = r.state.model.weights;
    if (comm.rank() == 0) objective = r.history.back().objective;
  });
  for (const auto& x : w) EXPECT_EQ(x, w[0]) << "ranks disagree in bits";
  if (weights != nullptr) *weights = w[0];
  return objective;
}

TrainOptions Heart(const std::string& loss, const std::string& class_weight,
                   const std::string& weights = "", const std::string& data = kHeart) {
  TrainOptions o = testing::HeartOptions(loss, "tron", 300);
  o.data = data;
  o.tol = 1e-9;
  o.class_weight = class_weight;
  o.weights = weights;
  FinalizeAndValidate(o);
  return o;
}

class ClassWeight : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(ClassWeight, MatchesLiblinearW1Two) {
  const auto [loss, solver] = GetParam();
  TempDir dir;
  const TrainOptions o = Heart(loss, "1:2");
  const double reference =
      testing::ObjectiveAt(o, RunLiblinear(solver, {"-w1", "2"}, kHeart, dir, o));
  const TrainOptions plain = Heart(loss, "");
  double single = 0;
  for (int world : {1, 2, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    const double f = TrainedObjective(o, world);
    EXPECT_LE(std::fabs(f - reference), 1e-5 * reference)
        << "ours " << f << " liblinear " << reference;
    if (world == 1) single = f;
    EXPECT_LE(std::fabs(f - single), 1e-6 * single);
  }
  // The weight changes the problem: the unweighted optimum is another objective.
  EXPECT_GT(std::fabs(TrainedObjective(plain, 1) - single), 1e-3 * single);
}

INSTANTIATE_TEST_SUITE_P(Losses, ClassWeight,
                         ::testing::Values(std::make_pair("logistic", 0),
                                           std::make_pair("squared_hinge", 2)));

// Integer instance weights k_i: C k_i loss_i == loss_i repeated k_i times.
TEST(InstanceWeights, EqualRepeatingRowsAndLiblinearOnTheRepeatedFile) {
  TempDir dir;
  std::ifstream in(kHeart);
  std::ofstream weights(dir.File("w.txt")), repeated(dir.File("rep.txt"));
  std::mt19937 gen(5);
  std::string line;
  while (std::getline(in, line)) {
    const int k = static_cast<int>(gen() % 4);  // 0..3 (0: the row drops out)
    weights << k << '\n';
    for (int i = 0; i < k; ++i) repeated << line << '\n';
  }
  weights.close();
  repeated.close();
  for (const char* loss : {"logistic", "squared_hinge"}) {
    SCOPED_TRACE(loss);
    const TrainOptions w = Heart(loss, "", dir.File("w.txt"));
    const TrainOptions r = Heart(loss, "", "", dir.File("rep.txt"));
    const double fw = TrainedObjective(w, 2), fr = TrainedObjective(r, 1);
    EXPECT_NEAR(fw, fr, 1e-7 * fr);
    const double reference = testing::ObjectiveAt(
        r, RunLiblinear(std::string(loss) == "logistic" ? 0 : 2, {}, dir.File("rep.txt"), dir, r));
    EXPECT_LE(std::fabs(fw - reference), 1e-5 * reference);
  }
}

TEST(Weights, BalancedAndBadInputAreOneLineEach) {
  TempDir dir;
  allreduce::SelfCommunicator self;
  {  // balanced: rows / (classes * rows of the class)
    TrainOptions o = Heart("logistic", "balanced");
    ShardedData d = LoadShardedData(o, self);
    double pos = 0;
    for (auto c : d.train.class_index) pos += c == 1;
    const double n = static_cast<double>(d.train.rows());
    ASSERT_EQ(d.train.row_weight.size(), d.train.class_index.size());
    for (std::size_t r = 0; r < d.train.row_weight.size(); ++r)
      EXPECT_DOUBLE_EQ(d.train.row_weight[r],
                       n / (2 * (d.train.class_index[r] == 1 ? pos : n - pos)));
  }
  {  // a label that is not a class: a warning, no effect
    TrainOptions o = Heart("logistic", "7:3,1:2");
    ShardedData d = LoadShardedData(o, self);
    for (std::size_t r = 0; r < d.train.row_weight.size(); ++r)
      EXPECT_EQ(d.train.row_weight[r], d.train.class_index[r] == 1 ? 2.0 : 1.0);
  }
  auto expect_data_error = [&](const std::string& text, const std::string& needle) {
    std::ofstream(dir.File("bad.txt")) << text;
    TrainOptions o = Heart("logistic", "", dir.File("bad.txt"));
    try {
      LoadShardedData(o, self);
      ADD_FAILURE() << "accepted " << text;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_data_error("1\n-2\n", "bad.txt:2");  // negative
  expect_data_error("1\nx\n", "bad.txt:2");   // unparsable
  expect_data_error("1\n1\n", "2 lines for 270 data rows");
  for (const char* bad : {"1:-2", "abc", "1:2,", "1:nan"}) {
    SCOPED_TRACE(bad);
    TrainOptions o = testing::HeartOptions("logistic", "tron", 10);
    o.class_weight = bad;
    try {
      FinalizeAndValidate(o);
      ADD_FAILURE() << "accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--class-weight"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace ringtrain::train

namespace ringtrain::train {
namespace {

// A CSV weight column: the same objective as the rows repeated (on 2 ranks against 1), the
// column is neither a feature nor the label, and a bad weight or column is one line.
TEST(InstanceWeights, ACsvWeightColumnEqualsRepeatedRows) {
  TempDir dir;
  std::ofstream weighted(dir.File("w.csv")), repeated(dir.File("rep.csv"));
  weighted << "label,a,weight,b\n";
  repeated << "label,a,b\n";
  std::mt19937 gen(9);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int r = 0; r < 80; ++r) {
    const double a = u(gen), b = u(gen);
    const int y = a + 0.5 * b + 0.3 * u(gen) > 0 ? 1 : 0;
    const int k = static_cast<int>(gen() % 4);
    weighted << y << ',' << a << ',' << k << ',' << b << '\n';
    for (int i = 0; i < k; ++i) repeated << y << ',' << a << ',' << b << '\n';
  }
  weighted.close();
  repeated.close();
  TrainOptions w = testing::HeartOptions("logistic", "tron", 300);
  w.data = dir.File("w.csv");
  w.weight_column = "2";
  w.tol = 1e-9;
  FinalizeAndValidate(w);
  TrainOptions r = w;
  r.data = dir.File("rep.csv");
  r.weight_column.clear();
  std::vector<double> ww, wr;
  const double fw = TrainedObjective(w, 2, &ww), fr = TrainedObjective(r, 1, &wr);
  EXPECT_NEAR(fw, fr, 1e-7 * fr);
  ASSERT_EQ(ww.size(), 3u);  // a, b and the bias: the weight column is no feature
  for (std::size_t j = 0; j < ww.size(); ++j) EXPECT_NEAR(ww[j], wr[j], 1e-5);

  std::ofstream(dir.File("neg.csv")) << "label,a,weight\n1,0.5,1\n0,0.25,-2\n";
  TrainOptions neg = w;
  neg.data = dir.File("neg.csv");
  allreduce::SelfCommunicator self;
  try {
    LoadShardedData(neg, self);
    ADD_FAILURE() << "a negative weight was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(neg.data + ":3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("negative instance weight"), std::string::npos);
  }
  TrainOptions on_label = w;
  on_label.weight_column = "0";
  EXPECT_THROW(LoadShardedData(on_label, self), UsageError);
  TrainOptions libsvm = testing::HeartOptions("logistic", "tron", 10);
  libsvm.weight_column = "1";
  EXPECT_THROW(LoadShardedData(libsvm, self), UsageError);
  TrainOptions both = w;
  both.weights = dir.File("w.txt");
  EXPECT_THROW(FinalizeAndValidate(both), UsageError);
}

}  // namespace
}  // namespace ringtrain::train

namespace ringtrain::train {
namespace {

// One-vs-rest with 3 classes: liblinear's -wi weighs class i's rows only in class i's
// subproblem (Cp = C w_i, Cn = C). Ours equals liblinear -s 0 / -s 2 with -w1 2 -w3 0.5 within
// 1e-5 on 1, 2 and 3 ranks, and differs from the unweighted optimum.
TEST(ClassWeight, OneVsRestMatchesLiblinearPerSubproblem) {
  TempDir dir;
  const std::string data = dir.File("three.txt");
  {
    std::mt19937 gen(4);
    std::normal_distribution<double> n(0, 1);
    std::ofstream out(data);
    for (int r = 0; r < 150; ++r) {
      const int c = (r * 7) % 3;
      out << c + 1;
      for (int j = 0; j < 4; ++j) out << ' ' << j + 1 << ':' << n(gen) + (j == c ? 1.0 : 0.0);
      out << '\n';
    }
  }
  for (const auto& [loss, solver] :
       {std::make_pair("logistic", 0), std::make_pair("squared_hinge", 2)}) {
    SCOPED_TRACE(loss);
    const TrainOptions o = Heart(loss, "1:2,3:0.5", "", data);
    // liblinear's model: labels in first-appearance order, one column per label.
    const testing::Liblinear ll =
        testing::RunLiblinearTrain({"-s", std::to_string(solver), "-c", "1", "-B", "1", "-e",
                                    "0.00000001", "-w1", "2", "-w3", "0.5"},
                                   data, dir);
    const std::vector<double>& labels = ll.labels;
    const std::vector<double>& flat = ll.w;
    ASSERT_EQ(labels.size(), 3u);
    const std::size_t dim = 5;  // 4 features + bias
    ASSERT_EQ(flat.size(), dim * 3);
    const std::vector<double> classes = {1, 2, 3};  // ours: ascending, output-major
    std::vector<double> w(dim * 3);
    for (std::size_t out = 0; out < 3; ++out) {
      const std::size_t col = static_cast<std::size_t>(
          std::find(labels.begin(), labels.end(), classes[out]) - labels.begin());
      for (std::size_t j = 0; j < dim; ++j) w[out * dim + j] = flat[j * 3 + col];
    }
    const double reference = testing::ObjectiveAt(o, w);
    double single = 0;
    for (int world : {1, 2, 3}) {
      SCOPED_TRACE("world " + std::to_string(world));
      const double f = TrainedObjective(o, world);
      EXPECT_LE(std::fabs(f - reference), 1e-5 * reference)
          << "ours " << f << " liblinear " << reference;
      if (world == 1) single = f;
      EXPECT_LE(std::fabs(f - single), 1e-6 * single);
    }
    const TrainOptions plain = Heart(loss, "", "", data);
    EXPECT_GT(std::fabs(TrainedObjective(plain, 1) - single), 1e-3 * single);
  }
}

}  // namespace
}  // namespace ringtrain::train
