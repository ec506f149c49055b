// tests/train/probabilities_test.cc — `predict --probabilities` against liblinear-predict -b 1.
// A logistic model (binary on heart_scale; one-vs-rest on a generated 3-class set, whose
// probabilities liblinear normalises over the classes) is trained, exported with
// ExportLiblinear and scored by Debian's liblinear-predict -b 1; its printed probabilities
// (6 significant digits) must equal ours per row and class, and its labels ours. A squared-
// hinge model has no probabilities (refused in one line).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/error.h"
#include "models/linear_model.h"
#include "support/subprocess.h"
#include "train/heart_reference.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

using ringtrain::testing::TempDir;

void Write3Class(const std::string& path) {
  std::mt19937 gen(4);
  std::normal_distribution<double> n(0, 1);
  std::ofstream out(path);
  for (int r = 0; r < 150; ++r) {
    const int c = r % 3;
    out << c + 1;
    for (int j = 0; j < 4; ++j) out << ' ' << j + 1 << ':' << n(gen) + (j == c ? 1.5 : 0.0);
    out << '\n';
  }
}

void ExpectLiblinearProbabilities(const std::string& data, const std::string& multiclass) {
  SCOPED_TRACE(data + " " + multiclass);
  TempDir dir;
  TrainOptions o;
  o.data = data;
  o.multiclass = multiclass;
  o.threads = 1;
  o.output = dir.File("m.model");
  FinalizeAndValidate(o);
  allreduce::SelfCommunicator self;
  Train(o, self, RunInfo{});
  const models::LinearModel m = models::LoadModel(o.output);
  models::ExportLiblinear(m, dir.File("m.liblinear"));
  ringtrain::testing::Subprocess p(
      {"/usr/bin/liblinear-predict", "-b", "1", data, dir.File("m.liblinear"), dir.File("out")}, {},
      dir.File("p.out"), dir.File("p.err"));
  const auto st = p.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(st.exited && st.code == 0) << st.Describe();

  models::Dataset d = models::ReadShard(ReaderOptions(o, data, "", "--labels"));
  FitFeatures(d, m.spec.num_features);
  const std::vector<double> ours = models::PredictProbabilities(m, d);
  const std::vector<double> labels = models::PredictLabels(m, d);
  const std::size_t k = m.spec.classes.size();
  std::ifstream in(dir.File("out"));
  std::string header;
  std::getline(in, header);
  std::istringstream hs(header);
  std::string word;
  hs >> word;
  ASSERT_EQ(word, "labels");
  std::vector<std::size_t> column_class;  // liblinear's column -> our class index
  for (double c; hs >> c;)
    for (std::size_t i = 0; i < k; ++i)
      if (m.spec.classes[i] == c) column_class.push_back(i);
  ASSERT_EQ(column_class.size(), k);
  std::string line;
  std::size_t row = 0;
  for (; std::getline(in, line); ++row) {
    ASSERT_LT(row, labels.size());
    std::istringstream ls(line);
    double label = 0;
    ls >> label;
    EXPECT_EQ(label, labels[row]) << "row " << row;
    for (std::size_t c = 0; c < k; ++c) {
      double pr = 0;
      ls >> pr;
      EXPECT_NEAR(pr, ours[row * k + column_class[c]], 1e-5) << "row " << row << " class " << c;
    }
  }
  EXPECT_EQ(row, labels.size());
}

TEST(Probabilities, BinaryEqualLiblinearPredictB1) {
  ExpectLiblinearProbabilities(testing::kHeart, "ovr");
}

TEST(Probabilities, OneVsRestAreNormalisedLikeLiblinearPredictB1) {
  TempDir dir;
  const std::string data = dir.File("three.txt");
  Write3Class(data);
  ExpectLiblinearProbabilities(data, "ovr");
}

TEST(Probabilities, ASquaredHingeModelHasNone) {
  TempDir dir;
  TrainOptions o = testing::HeartOptions("squared_hinge", "tron", 20);
  o.output = dir.File("svm.model");
  allreduce::SelfCommunicator self;
  Train(o, self, RunInfo{});
  const models::LinearModel m = models::LoadModel(o.output);
  models::Dataset d = models::ReadShard(ReaderOptions(o, o.data, "", "--labels"));
  EXPECT_THROW(models::PredictProbabilities(m, d), UsageError);
}

}  // namespace
}  // namespace ringtrain::train
