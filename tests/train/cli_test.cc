// `ringtrain train|predict|eval|export` end to end: real processes, real ZooKeeper
// (support/zk_server.h), real TCP ring. Usage errors exit 1 naming the option; a standalone
// run's model is read back by eval, predict and Debian's liblinear-predict; two processes
// through ZooKeeper reach the single-process objective; a killed rank makes the survivor
// exit 4; a Fashion-MNIST subset (first 10k rows) trains to a sane test accuracy.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "models/dataset.h"
#include "support/subprocess.h"
#include "support/zk_server.h"

namespace ringtrain::train {
namespace {

using ringtrain::testing::ExitStatus;
using ringtrain::testing::ReadTextFile;
using ringtrain::testing::Subprocess;
using ringtrain::testing::TempDir;

const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";
const std::string kFashion = "/usr/share/datasets/fashion-mnist/";

struct CliRun {
  ExitStatus status;
  std::string out, err;
};

CliRun RunCli(const TempDir& dir, const std::string& tag, std::vector<std::string> args,
              int timeout_s = 120) {
  args.insert(args.begin(), RINGTRAIN_BIN);
  Subprocess p(args, {}, dir.File(tag + ".out"), dir.File(tag + ".err"));
  CliRun r;
  r.status = p.Wait(std::chrono::seconds(timeout_s));
  r.out = ReadTextFile(dir.File(tag + ".out"));
  r.err = ReadTextFile(dir.File(tag + ".err"));
  return r;
}

nlohmann::json LastMetrics(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  EXPECT_FALSE(last.empty()) << "no metrics in " << path;
  return last.empty() ? nlohmann::json::object() : nlohmann::json::parse(last);
}

TEST(Cli, BadOptionsExitOneNamingTheOption) {
  TempDir dir;
  std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--data", kHeart, "--C", "0"}, "--C"},
      {{"--data", kHeart, "--epochs", "0"}, "--epochs"},
      {{"--data", kHeart, "--resume", "--resume-from", "3"}, "--resume"},
      {{"--data", kHeart, "--model", "lr", "--loss", "hinge"}, "--loss"},
      {{"--data", kHeart, "--model", "svm", "--loss", "hinge", "--optimizer", "tron"},
       "--optimizer"},
      {{"--data", kHeart, "--model", "svm", "--multiclass", "multinomial"}, "--multiclass"},
      {{"--data", kHeart, "--ranks", "2"}, "--job"},
      {{"--data", kHeart, "--no-such-flag"}, "--no-such-flag"},
      {{"--data", kHeart, "--config", "/nonexistent.toml"}, "--config"},
  };
  int i = 0;
  for (auto& [args, option] : cases) {
    args.insert(args.begin(), "train");
    CliRun r = RunCli(dir, "bad" + std::to_string(i++), args, 30);
    EXPECT_TRUE(r.status.exited && r.status.code == 1) << option << ": " << r.status.Describe();
    EXPECT_NE(r.err.find(option), std::string::npos) << option << " not named in: " << r.err;
  }
}

// Inputs cannot exhaust the machine (issue 12): a 2-row LIBSVM file with feature index
// 2^31-1 is refused before the model is allocated, in well under a second, naming file:line;
// --max-model-bytes applies; non-finite C/lr/tol are refused at parse time; a diverging run
// stops with exit 2 and writes no model.
TEST(Cli, HugeFeatureIndexIsRefusedBeforeTheModelIsAllocated) {
  TempDir dir;
  const std::string huge = dir.File("huge.svm");
  std::ofstream(huge) << "1 1:0.5\n-1 2147483647:1\n";
  const auto t0 = std::chrono::steady_clock::now();
  CliRun r = RunCli(dir, "huge", {"train", "--data", huge, "--output", dir.File("m")}, 30);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(r.status.exited && r.status.code == 2) << r.status.Describe() << r.err;
  EXPECT_LT(s, 1.0) << "took " << s << " s";
  EXPECT_NE(r.err.find(huge + ":2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--max-model-bytes"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::ifstream(dir.File("m")).good());
  CliRun small = RunCli(dir, "small", {"train", "--data", kHeart, "--max-model-bytes", "1000"}, 30);
  EXPECT_TRUE(small.status.exited && small.status.code == 2) << small.err;
  EXPECT_NE(small.err.find(std::string(kHeart) + ":"), std::string::npos) << small.err;
  for (const auto& [opt, val] : std::vector<std::pair<std::string, std::string>>{
           {"--C", "inf"}, {"--C", "nan"}, {"--lr", "1e300"}, {"--tol", "nan"}}) {
    CliRun b = RunCli(dir, "bad", {"train", "--data", kHeart, opt, val}, 30);
    EXPECT_TRUE(b.status.exited && b.status.code == 1) << opt << " " << val << ": " << b.err;
    EXPECT_NE(b.err.find(opt), std::string::npos) << b.err;
  }
  CliRun div = RunCli(dir, "div",
                      {"train", "--data", kHeart, "--optimizer", "sgd", "--lr", "1e5", "--epochs",
                       "60", "--threads", "1", "--output", dir.File("div.model")},
                      60);
  EXPECT_TRUE(div.status.exited && div.status.code == 2) << div.status.Describe() << div.err;
  EXPECT_NE(div.err.find("training diverged"), std::string::npos) << div.err;
  EXPECT_FALSE(std::ifstream(dir.File("div.model")).good()) << "a diverged run wrote a model";
}

TEST(Cli, StandaloneModelIsReadByEvalPredictAndLiblinearPredict) {
  TempDir dir;
  const std::string model = dir.File("hs.model"), metrics = dir.File("hs.jsonl");
  CliRun t = RunCli(
      dir, "train",
      {"train", "--config", std::string(RINGTRAIN_SOURCE_DIR) + "/configs/heart_scale_lr.toml",
       "--output", model, "--metrics", metrics});
  ASSERT_TRUE(t.status.exited && t.status.code == 0) << t.status.Describe() << t.err;
  auto m = LastMetrics(metrics);
  for (const char* key : {"epoch", "objective", "train_accuracy", "test_accuracy", "samples_per_s",
                          "allreduce_s", "wall_s", "generation", "world_size"})
    EXPECT_TRUE(m.contains(key)) << key;
  EXPECT_EQ(m["world_size"], 1);

  CliRun e = RunCli(dir, "eval", {"eval", "--model", model, "--data", kHeart, "--json"});
  ASSERT_TRUE(e.status.exited && e.status.code == 0) << e.err;
  auto ej = nlohmann::json::parse(e.out);
  EXPECT_NEAR(ej["objective"].get<double>(), m["objective"].get<double>(),
              1e-9 * m["objective"].get<double>());
  EXPECT_DOUBLE_EQ(ej["accuracy"].get<double>(), m["train_accuracy"].get<double>());
  EXPECT_GT(ej["auc"].get<double>(), 0.5);

  CliRun p = RunCli(dir, "predict", {"predict", "--model", model, "--data", kHeart});
  ASSERT_TRUE(p.status.exited && p.status.code == 0) << p.err;
  std::istringstream labels(p.out), truth(ReadTextFile(kHeart));
  std::string pl, tl;
  int rows = 0, correct = 0;
  while (std::getline(labels, pl) && std::getline(truth, tl)) {
    ++rows;
    correct += std::stod(pl) == std::stod(tl.substr(0, tl.find(' ')));
  }
  EXPECT_EQ(rows, 270);
  EXPECT_DOUBLE_EQ(static_cast<double>(correct) / rows, ej["accuracy"].get<double>());

  CliRun x = RunCli(
      dir, "export",
      {"export", "--model", model, "--format", "liblinear", "--output", dir.File("hs.liblinear")});
  ASSERT_TRUE(x.status.exited && x.status.code == 0) << x.err;
  Subprocess ll(
      {"/usr/bin/liblinear-predict", kHeart, dir.File("hs.liblinear"), dir.File("ll.pred")}, {},
      dir.File("ll.out"), dir.File("ll.err"));
  ASSERT_TRUE(ll.Wait(std::chrono::seconds(30)).exited);
  EXPECT_EQ(ReadTextFile(dir.File("ll.pred")), p.out) << "liblinear-predict disagrees";
}

std::vector<std::string> DistributedArgs(const std::string& job, const std::string& data,
                                         int ranks) {
  return {"train",
          "--zk",
          ringtrain::testing::ZkServer::Shared().connect(),
          "--job",
          job,
          "--ranks",
          std::to_string(ranks),
          "--data",
          data,
          "--bias",
          "--timeout",
          "60",
          "--threads",
          "1"};
}

TEST(Cli, TwoProcessesThroughZooKeeperReachTheSingleProcessObjective) {
  TempDir dir;
  CliRun single = RunCli(dir, "single",
                         {"train", "--data", kHeart, "--bias", "--tol", "1e-6", "--metrics",
                          dir.File("single.jsonl")});
  ASSERT_TRUE(single.status.exited && single.status.code == 0) << single.err;
  const double reference = LastMetrics(dir.File("single.jsonl"))["objective"];

  const std::string job = ringtrain::testing::UniqueJobName("train-cli");
  std::vector<Subprocess> ranks;
  for (int r = 0; r < 2; ++r) {
    auto args = DistributedArgs(job, kHeart, 2);
    args.insert(args.begin(), RINGTRAIN_BIN);
    const std::vector<std::string> extra = {
        "--tol", "1e-6", "--metrics", dir.File("dist.jsonl"), "--output", dir.File("dist.model")};
    for (const std::string& a : extra) args.push_back(a);
    ranks.emplace_back(args, std::map<std::string, std::string>{},
                       dir.File("r" + std::to_string(r) + ".out"),
                       dir.File("r" + std::to_string(r) + ".err"));
  }
  int with_progress = 0;
  for (int r = 0; r < 2; ++r) {
    auto st = ranks[static_cast<std::size_t>(r)].Wait(std::chrono::seconds(120));
    std::string err = ReadTextFile(dir.File("r" + std::to_string(r) + ".err"));
    EXPECT_TRUE(st.exited && st.code == 0) << st.Describe() << "\n" << err;
    with_progress += err.find("epoch 1/") != std::string::npos;
  }
  EXPECT_EQ(with_progress, 1) << "exactly the leader prints progress";
  auto m = LastMetrics(dir.File("dist.jsonl"));
  ASSERT_TRUE(m.contains("world_size"))
      << ReadTextFile(dir.File("r0.err")) << ReadTextFile(dir.File("r1.err"));
  EXPECT_EQ(m["world_size"], 2);
  EXPECT_GE(m["generation"].get<std::int64_t>(), 1);
  EXPECT_LE(std::fabs(m["objective"].get<double>() - reference), 1e-6 * reference);
  std::ifstream model(dir.File("dist.model"));
  EXPECT_TRUE(model.good()) << "the leader writes --output";
}

TEST(Cli, AKilledRankMakesTheSurvivorExitFour) {
  TempDir dir;
  const std::string job = ringtrain::testing::UniqueJobName("train-kill");
  std::vector<Subprocess> ranks;
  for (int r = 0; r < 2; ++r) {
    auto args = DistributedArgs(job, kHeart, 2);
    args.insert(args.begin(), RINGTRAIN_BIN);
    for (const char* a : {"--optimizer", "sgd", "--epochs", "100000000"}) args.push_back(a);
    ranks.emplace_back(args, std::map<std::string, std::string>{},
                       dir.File("k" + std::to_string(r) + ".out"),
                       dir.File("k" + std::to_string(r) + ".err"));
  }
  // Wait until training runs (the leader prints epoch lines), then kill rank 1's process.
  bool running = false;
  for (int i = 0; i < 600 && !running; ++i) {
    running = ReadTextFile(dir.File("k0.err")).find("epoch 2/") != std::string::npos ||
              ReadTextFile(dir.File("k1.err")).find("epoch 2/") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(running) << ReadTextFile(dir.File("k0.err")) << ReadTextFile(dir.File("k1.err"));
  ranks[1].Signal(SIGKILL);
  auto st = ranks[0].Wait(std::chrono::seconds(60));
  std::string err = ReadTextFile(dir.File("k0.err"));
  EXPECT_TRUE(st.exited && st.code == 4) << st.Describe() << "\n" << err;
  ranks[1].Wait(std::chrono::seconds(5));
}

// First `rows` rows of an IDX pair, written as plain IDX (the reader's [0,1] pixels times
// 255 are the original bytes).
void WriteIdxSubset(const std::string& images, const std::string& labels, int shards,
                    const std::string& out_images, const std::string& out_labels) {
  models::ReadOptions ro;
  ro.path = images;
  ro.labels_path = labels;
  ro.format = models::Format::kIdx;
  ro.num_shards = shards;
  models::Dataset d = models::ReadShard(ro);
  ASSERT_TRUE(d.is_dense());
  auto be32 = [](std::ofstream& f, std::uint32_t v) {
    char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
    f.write(b, 4);
  };
  const auto n = static_cast<std::uint32_t>(d.rows());
  std::ofstream fi(out_images, std::ios::binary), fl(out_labels, std::ios::binary);
  be32(fi, 0x803);
  be32(fi, n);
  be32(fi, 28);
  be32(fi, 28);
  for (float v : d.dense)
    fi.put(static_cast<char>(static_cast<unsigned char>(std::lround(v * 255))));
  be32(fl, 0x801);
  be32(fl, n);
  for (double l : d.labels) fl.put(static_cast<char>(static_cast<unsigned char>(l)));
}

TEST(Cli, FashionMnistSubsetTwoRanksLearns) {
  TempDir dir;
  WriteIdxSubset(kFashion + "train-images-idx3-ubyte.gz", kFashion + "train-labels-idx1-ubyte.gz",
                 6, dir.File("train-images-idx3-ubyte"), dir.File("train-labels-idx1-ubyte"));
  WriteIdxSubset(kFashion + "t10k-images-idx3-ubyte.gz", kFashion + "t10k-labels-idx1-ubyte.gz", 5,
                 dir.File("t10k-images-idx3-ubyte"), dir.File("t10k-labels-idx1-ubyte"));
  const std::string job = ringtrain::testing::UniqueJobName("train-fashion-subset");
  std::vector<Subprocess> ranks;
  for (int r = 0; r < 2; ++r) {
    auto args = DistributedArgs(job, dir.File("train-images-idx3-ubyte"), 2);
    args.insert(args.begin(), RINGTRAIN_BIN);
    for (const std::string& a :
         std::vector<std::string>{"--labels", dir.File("train-labels-idx1-ubyte"), "--test-data",
                                  dir.File("t10k-images-idx3-ubyte"), "--test-labels",
                                  dir.File("t10k-labels-idx1-ubyte"), "--epochs", "60",
                                  std::string("--metrics"), dir.File("fm.jsonl")})
      args.push_back(a);
    ranks.emplace_back(args, std::map<std::string, std::string>{},
                       dir.File("f" + std::to_string(r) + ".out"),
                       dir.File("f" + std::to_string(r) + ".err"));
  }
  for (int r = 0; r < 2; ++r) {
    auto st = ranks[static_cast<std::size_t>(r)].Wait(std::chrono::seconds(240));
    EXPECT_TRUE(st.exited && st.code == 0)
        << st.Describe() << ReadTextFile(dir.File("f" + std::to_string(r) + ".err"));
  }
  auto m = LastMetrics(dir.File("fm.jsonl"));
  // 10k rows, 60 L-BFGS iterations: well below the full-data 0.84 but far above chance.
  EXPECT_GE(m["test_accuracy"].get<double>(), 0.78) << m.dump();
  EXPECT_GE(m["train_accuracy"].get<double>(), m["test_accuracy"].get<double>() - 0.02);
}

}  // namespace
}  // namespace ringtrain::train
