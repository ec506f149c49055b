// Labels agreed across ranks (issue 15), ranks as threads over a real loopback TCP ring:
//  - test rows of a class the model never saw, held by one rank only, count as errors in the
//    test accuracy every rank computes (the unseen classes are agreed, no rank hangs);
//  - integer targets that look continuous (many values, few rows each) are refused on every
//    rank with the same error, naming the file's first row.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/error.h"
#include "support/subprocess.h"
#include "train/options.h"
#include "train/ring_threads.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

using ringtrain::testing::TempDir;

TrainOptions Options(const std::string& data) {
  TrainOptions o;
  o.data = data;
  o.threads = 1;
  FinalizeAndValidate(o);
  return o;
}

TEST(LabelsOnRanks, UnseenTestClassesCountAsErrorsOnEveryRank) {
  TempDir dir;
  std::string train, test;
  for (int i = 0; i < 30; ++i) {
    train += "1 1:" + std::to_string(1.0 + 0.03 * i) + "\n";
    train += "2 1:" + std::to_string(-1.0 - 0.03 * i) + "\n";
  }
  for (int i = 0; i < 8; ++i) test += i % 2 == 0 ? "1 1:2\n" : "2 1:-2\n";
  test += "5 1:1\n7 1:1\n7 1:-1\n";  // only the last rank's shard holds them
  std::ofstream(dir.File("train.svm")) << train;
  std::ofstream(dir.File("test.svm")) << test;
  TrainOptions o = Options(dir.File("train.svm"));
  o.test_data = dir.File("test.svm");
  for (int world : {1, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    std::mutex mu;
    std::vector<double> accuracy;
    testing::RunRanks(world, [&](allreduce::Communicator& comm) {
      TrainResult r = Train(o, comm, RunInfo{});
      std::lock_guard<std::mutex> lock(mu);
      accuracy.push_back(r.history.back().test_accuracy);
    });
    ASSERT_EQ(accuracy.size(), static_cast<std::size_t>(world));
    for (double a : accuracy) EXPECT_DOUBLE_EQ(a, 8.0 / 11.0);
  }
}

TEST(LabelsOnRanks, ContinuousTargetsAreRefusedOnEveryRankNamingTheFirstRow) {
  TempDir dir;
  std::string data = "# integer prices\n";
  for (int i = 0; i < 50; ++i)
    data += std::to_string(200 + 3 * i) + " 1:" + std::to_string(i) + "\n";
  std::ofstream(dir.File("prices.svm")) << data;
  const TrainOptions o = Options(dir.File("prices.svm"));
  std::mutex mu;
  std::vector<std::string> errors;
  try {
    testing::RunRanks(2, [&](allreduce::Communicator& comm) {
      try {
        Train(o, comm, RunInfo{});
      } catch (const DataError& e) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(e.what());
        throw;
      }
    });
    ADD_FAILURE() << "integer targets with one row per value were trained as classes";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("prices.svm:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("50 distinct values in 50 rows"), std::string::npos)
        << e.what();
  }
  ASSERT_EQ(errors.size(), 2u) << "every rank refuses, none waits for the others";
  EXPECT_EQ(errors[0], errors[1]);
}

}  // namespace
}  // namespace ringtrain::train
