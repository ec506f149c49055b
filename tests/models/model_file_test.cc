// tests/models/model_file_test.cc — the binary model file (round trip; truncated,
// bit-flipped, wrong-magic and wrong-version files rejected with the path) and the
// liblinear export, checked by running Debian's real liblinear-predict and comparing its
// predictions with PredictLabels, row by row.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "common/error.h"
#include "common/file_util.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "support/subprocess.h"

namespace ringtrain::models {
namespace {

using ringtrain::testing::Subprocess;
using ringtrain::testing::TempDir;

constexpr const char* kHeartScale = "/usr/share/doc/liblinear-tools/examples/heart_scale";
constexpr const char* kPredict = "/usr/bin/liblinear-predict";

LinearModel SampleModel() {
  LinearModel m;
  m.spec.loss = Loss::kSquaredHinge;
  m.spec.classes = {-2, 0.5, 7};
  m.spec.num_features = 4;
  m.spec.bias = true;
  m.spec.bias_value = 0.25;
  m.epoch = 12;
  for (std::int64_t i = 0; i < m.spec.num_weights(); ++i) m.weights.push_back(0.1 * i - 0.3);
  return m;
}

void ExpectRejected(const std::vector<std::byte>& bytes, const std::string& needle) {
  try {
    DeserializeModel(bytes, "/some/model.bin");
    ADD_FAILURE() << "accepted; expected '" << needle << "'";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/some/model.bin"), std::string::npos) << e.what();
  }
}

TEST(ModelFile, RoundTripThroughFile) {
  TempDir dir;
  const LinearModel m = SampleModel();
  SaveModel(m, dir.File("m.bin"));
  const LinearModel back = LoadModel(dir.File("m.bin"));
  EXPECT_EQ(back.spec.loss, m.spec.loss);
  EXPECT_EQ(back.spec.multiclass, m.spec.multiclass);
  EXPECT_EQ(back.spec.classes, m.spec.classes);
  EXPECT_EQ(back.spec.num_features, 4);
  EXPECT_TRUE(back.spec.bias);
  EXPECT_EQ(back.spec.bias_value, 0.25);
  EXPECT_EQ(back.epoch, 12);
  EXPECT_EQ(back.weights, m.weights);
  EXPECT_EQ(SerializeModel(back), SerializeModel(m));
  EXPECT_THROW(LoadModel(dir.File("missing.bin")), DataError);
}

TEST(ModelFile, RecordsTheObjectiveAndRegressionModelsRoundTrip) {
  LinearModel m;
  m.spec.loss = Loss::kSquaredEpsilonInsensitive;
  m.spec.num_features = 3;
  m.spec.epsilon = 0.25;
  m.c = 4;
  m.weights = {0.5, -1, 2};
  const LinearModel back = DeserializeModel(SerializeModel(m), "m");
  EXPECT_TRUE(back.spec.regression());
  EXPECT_TRUE(back.spec.classes.empty());
  EXPECT_EQ(back.spec.epsilon, 0.25);
  EXPECT_EQ(back.c, 4);
  EXPECT_EQ(back.penalty, Penalty::kL2);
  EXPECT_EQ(back.weights, m.weights);
  // A regression loss with classes, or a classifier without, is inconsistent.
  LinearModel bad = m;
  bad.spec.classes = {0, 1};
  ExpectRejected(SerializeModel(bad), "inconsistent");
}

// A version-1 file (no C/epsilon/penalty block) still loads: C reads as 0 (not recorded).
TEST(ModelFile, VersionOneFilesStillLoad) {
  const LinearModel m = SampleModel();
  std::vector<std::byte> v2 = SerializeModel(m);
  std::vector<std::byte> v1(v2.begin(), v2.begin() + 64);
  v1.insert(v1.end(), v2.begin() + 96, v2.end() - 4);
  v1[8] = std::byte{1};
  const std::uint32_t crc = Crc32(v1);
  for (int i = 0; i < 4; ++i) v1.push_back(static_cast<std::byte>((crc >> (8 * i)) & 0xff));
  const LinearModel back = DeserializeModel(v1, "old.bin");
  EXPECT_EQ(back.weights, m.weights);
  EXPECT_EQ(back.spec.classes, m.spec.classes);
  EXPECT_EQ(back.c, 0);
  EXPECT_EQ(back.spec.epsilon, 0.1);
}

TEST(ModelFile, RejectsTruncatedCorruptedWrongMagicAndVersion) {
  const std::vector<std::byte> good = SerializeModel(SampleModel());
  for (std::size_t len :
       {std::size_t{0}, std::size_t{5}, std::size_t{30}, std::size_t{70}, good.size() - 1}) {
    SCOPED_TRACE(len);
    ExpectRejected(std::vector<std::byte>(good.begin(), good.begin() + static_cast<long>(len)),
                   len < 8 ? "magic" : "truncated");
  }
  // Flip one bit in every byte position past the header fields we test separately.
  for (std::size_t i = 12; i < good.size(); ++i) {
    std::vector<std::byte> bad = good;
    bad[i] ^= std::byte{0x10};
    try {
      DeserializeModel(bad, "/some/model.bin");
      ADD_FAILURE() << "bit flip at byte " << i << " accepted";
    } catch (const DataError&) {
    }
  }
  std::vector<std::byte> bad = good;
  bad[100] ^= std::byte{1};
  ExpectRejected(bad, "CRC-32");
  bad = good;
  bad[0] = std::byte{'X'};
  ExpectRejected(bad, "bad magic");
  bad = good;
  bad[8] = std::byte{3};  // version 3
  ExpectRejected(bad, "version 3");
  bad = good;
  bad.push_back(std::byte{0});
  ExpectRejected(bad, "trailing");
}

// Runs liblinear-predict on `data` with the exported model; returns its predicted labels.
std::vector<double> LiblinearPredict(const TempDir& dir, const std::string& data,
                                     const std::string& model) {
  const std::string out = dir.File("pred.txt");
  Subprocess p({kPredict, data, model, out}, {}, dir.File("stdout.txt"), dir.File("stderr.txt"));
  const auto status = p.Wait(std::chrono::seconds(60));
  EXPECT_TRUE(status.exited && status.code == 0)
      << status.Describe() << " " << ringtrain::testing::ReadTextFile(dir.File("stderr.txt"));
  std::vector<double> labels;
  std::istringstream in(ringtrain::testing::ReadTextFile(out));
  for (double v; in >> v;) labels.push_back(v);
  return labels;
}

// A few gradient steps on 0.5|w|^2 + C sum loss (enough for a non-trivial model).
void Fit(LinearModel& m, const Dataset& d, int steps, double lr) {
  m.weights.assign(static_cast<std::size_t>(m.spec.num_weights()), 0.0);
  for (int it = 0; it < steps; ++it) {
    std::vector<double> g = m.weights;  // gradient of the regulariser
    LossGradientSum(m.spec, d, m.weights, g);
    for (std::size_t j = 0; j < g.size(); ++j) m.weights[j] -= lr * g[j];
  }
}

void ExpectLiblinearAgrees(const std::string& data_path, Loss loss, Multiclass mc, bool bias,
                           double lr) {
  SCOPED_TRACE(data_path + " " + ToString(loss) + " " + ToString(mc) + (bias ? " bias" : ""));
  TempDir dir;
  ReadOptions o;
  o.path = data_path;
  Dataset d = ReadShard(o);
  LinearModel m;
  m.spec.loss = loss;
  m.spec.multiclass = mc;
  m.spec.classes = DistinctLabels(d);
  m.spec.num_features = d.num_features;
  m.spec.bias = bias;
  AssignClasses(d, m.spec.classes);
  Fit(m, d, 30, lr);
  const std::vector<double> ours = PredictLabels(m, d);
  ExportLiblinear(m, dir.File("model.txt"));
  const std::vector<double> theirs = LiblinearPredict(dir, data_path, dir.File("model.txt"));
  ASSERT_EQ(theirs.size(), ours.size());
  EXPECT_EQ(theirs, ours);
  // Non-trivial: the model predicts more than one class and beats the majority class.
  double correct = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) correct += ours[i] == d.labels[i];
  EXPECT_GT(correct / static_cast<double>(ours.size()), 0.6);
  Dataset predicted;
  predicted.labels = ours;
  EXPECT_GT(DistinctLabels(predicted).size(), 1u);
}

TEST(LiblinearExport, HeartScaleBinaryAgreesWithLiblinearPredict) {
  ExpectLiblinearAgrees(kHeartScale, Loss::kLogistic, Multiclass::kOvr, true, 0.01);
  ExpectLiblinearAgrees(kHeartScale, Loss::kSquaredHinge, Multiclass::kOvr, false, 0.002);
  ExpectLiblinearAgrees(kHeartScale, Loss::kHinge, Multiclass::kOvr, true, 0.002);
}

TEST(LiblinearExport, ThreeClassAgreesWithLiblinearPredict) {
  TempDir dir;
  const std::string path = dir.File("three.svm");
  {
    std::mt19937 gen(7);
    std::normal_distribution<double> noise(0, 0.7);
    std::ofstream out(path);
    const double centers[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    const int labels[3] = {5, -3, 12};
    for (int i = 0; i < 300; ++i) {
      const int c = i % 3;
      out << labels[c];
      for (int j = 0; j < 3; ++j) out << ' ' << j + 1 << ':' << centers[c][j] + noise(gen);
      if (i % 2 == 0) out << " 5:" << noise(gen);  // sparse extra feature
      out << '\n';
    }
  }
  ExpectLiblinearAgrees(path, Loss::kLogistic, Multiclass::kOvr, true, 0.005);
  ExpectLiblinearAgrees(path, Loss::kLogistic, Multiclass::kMultinomial, false, 0.005);
  ExpectLiblinearAgrees(path, Loss::kSquaredHinge, Multiclass::kOvr, true, 0.001);
}

TEST(LiblinearExport, WritesLiblinearHeader) {
  TempDir dir;
  LinearModel m = SampleModel();
  m.spec.classes = {-1, 1};
  m.weights.resize(static_cast<std::size_t>(m.spec.num_weights()));
  ExportLiblinear(m, dir.File("m.txt"));
  const std::string text = ringtrain::testing::ReadTextFile(dir.File("m.txt"));
  EXPECT_EQ(text.rfind("solver_type L2R_L2LOSS_SVC\nnr_class 2\nlabel 1 -1\nnr_feature 4\n"
                       "bias 0.25\nw\n",
                       0),
            0u)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 6 + 5);
}

}  // namespace
}  // namespace ringtrain::models
