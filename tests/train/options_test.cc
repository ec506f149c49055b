// Options: validation names the option; canonical text and hash cover exactly the shape
// keys; differing keys are named; every configs/*.toml parses through the CLI11
// registration and validates.
#include "cli/options.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "train/options.h"

#ifndef RINGTRAIN_SOURCE_DIR
#error "RINGTRAIN_SOURCE_DIR must be defined by the build"
#endif

namespace ringtrain::train {
namespace {

TrainOptions Valid() {
  TrainOptions o;
  o.data = "x.libsvm";
  return o;
}

std::string UsageMessage(TrainOptions o) {
  try {
    FinalizeAndValidate(o);
  } catch (const UsageError& e) {
    return e.what_happened();
  }
  return "";
}

TEST(Options, ValidDefaultsPassAndFillTheLossAndOptimizer) {
  auto o = Valid();
  EXPECT_TRUE(o.bias) << "a bias by default, like scikit-learn's intercept";
  FinalizeAndValidate(o);
  EXPECT_EQ(o.loss, "logistic");
  EXPECT_EQ(o.optimizer, "tron");
  o = Valid();
  o.model = "svm";
  FinalizeAndValidate(o);
  EXPECT_EQ(o.loss, "squared_hinge");
  EXPECT_EQ(o.optimizer, "tron");
  o = Valid();
  o.model = "svm";
  o.loss = "hinge";
  FinalizeAndValidate(o);
  EXPECT_EQ(o.optimizer, "sgd") << "the hinge is not differentiable";
  o = Valid();
  o.optimizer = "lbfgs";
  FinalizeAndValidate(o);
  EXPECT_EQ(o.optimizer, "lbfgs") << "an explicit optimizer is kept";
}

TEST(Options, BadValuesAreUsageErrorsNamingTheOption) {
  struct Case {
    void (*set)(TrainOptions&);
    const char* option;
  };
  std::vector<Case> cases = {
      {[](TrainOptions& o) { o.c = 0; }, "--C"},
      {[](TrainOptions& o) { o.c = -1; }, "--C"},
      {[](TrainOptions& o) { o.epochs = 0; }, "--epochs"},
      {[](TrainOptions& o) { o.data.clear(); }, "--data"},
      {[](TrainOptions& o) { o.resume = true, o.resume_from = 3; }, "--resume"},
      {[](TrainOptions& o) { o.model = "svm", o.loss = "hinge", o.optimizer = "tron"; },
       "--optimizer"},
      {[](TrainOptions& o) { o.model = "svm", o.multiclass = "multinomial"; }, "--multiclass"},
      {[](TrainOptions& o) { o.model = "lr", o.loss = "hinge"; }, "--loss"},
      {[](TrainOptions& o) { o.model = "tree"; }, "--model"},
      {[](TrainOptions& o) { o.optimizer = "adam"; }, "--optimizer"},
      {[](TrainOptions& o) { o.format = "parquet"; }, "--format"},
      {[](TrainOptions& o) { o.format = "idx"; }, "--labels"},
      {[](TrainOptions& o) { o.momentum = 1.0; }, "--momentum"},
      {[](TrainOptions& o) { o.batch_size = 0; }, "--batch-size"},
      {[](TrainOptions& o) { o.ranks = 2; }, "--job"},
      {[](TrainOptions& o) { o.min_ranks = 2; }, "--max-ranks"},
      {[](TrainOptions& o) { o.min_ranks = 4, o.max_ranks = 2, o.job = "j"; }, "--min-ranks"},
      {[](TrainOptions& o) { o.zk_auth = "a:b", o.zk_auth_file = "f"; }, "--zk-auth"},
      {[](TrainOptions& o) { o.transport = "udp"; }, "--transport"},
      {[](TrainOptions& o) { o.shm = "on"; }, "--shm"},
      {[](TrainOptions& o) { o.allreduce_segment = "64k"; }, "--allreduce-segment"},
      {[](TrainOptions& o) { o.allreduce_segment = "4"; }, "--allreduce-segment"},
      {[](TrainOptions& o) { o.timeout = 0; }, "--timeout"},
      {[](TrainOptions& o) { o.c = std::numeric_limits<double>::infinity(); }, "--C"},
      {[](TrainOptions& o) { o.c = std::nan(""); }, "--C"},
      {[](TrainOptions& o) { o.c = 1e300; }, "--C"},
      {[](TrainOptions& o) { o.lr = std::numeric_limits<double>::infinity(); }, "--lr"},
      {[](TrainOptions& o) { o.lr = std::nan(""); }, "--lr"},
      {[](TrainOptions& o) { o.lr_decay = std::numeric_limits<double>::infinity(); }, "--lr-decay"},
      {[](TrainOptions& o) { o.tol = std::nan(""); }, "--tol"},
      {[](TrainOptions& o) { o.tol = std::numeric_limits<double>::infinity(); }, "--tol"},
      {[](TrainOptions& o) { o.timeout = std::numeric_limits<double>::infinity(); }, "--timeout"},
      {[](TrainOptions& o) { o.checkpoint_every = 2; }, "--checkpoint-dir"},
      {[](TrainOptions& o) { o.test_labels = "t"; }, "--test-labels"},
  };
  for (const auto& c : cases) {
    auto o = Valid();
    c.set(o);
    std::string msg = UsageMessage(o);
    EXPECT_EQ(msg.rfind(c.option, 0), 0u)
        << "expected an error naming " << c.option << ", got '" << msg << "'";
  }
  // The UsageError maps to exit code 1.
  auto o = Valid();
  o.c = -1;
  try {
    FinalizeAndValidate(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
  }
}

// AgreedText: the shape keys and the keys every rank of a run must give alike; never the
// per-rank ones (addresses, paths, threads, timeout).
TEST(Options, AgreedTextHoldsShapeAndAgreedKeysNotPerRankOnes) {
  auto a = Valid();
  FinalizeAndValidate(a);
  const std::string text = AgreedText(a);
  for (const char* k : {"C = ", "loss = ", "epochs = ", "ranks = ", "eval-every = ",
                        "checkpoint-every = ", "keep = ", "resume = ", "test-data = "})
    EXPECT_NE(("\n" + text).find(std::string("\n") + k), std::string::npos) << k << " in " << text;
  for (const char* k : {"job = ", "zk = ", "zk-auth", "threads = ", "timeout = ", "output = ",
                        "metrics = ", "checkpoint-dir = ", "advertise-address = "})
    EXPECT_EQ(("\n" + text).find(std::string("\n") + k), std::string::npos) << k << " in " << text;
  auto b = a;
  b.threads = 5;
  b.output = "elsewhere";
  b.checkpoint_dir = "/other";
  EXPECT_EQ(AgreedText(b), text);
  b.epochs += 1;
  EXPECT_NE(AgreedText(b), text);
  EXPECT_EQ(CanonicalText(b), CanonicalText(a));  // epochs may change on resume
}

TEST(Options, CanonicalTextHoldsShapeKeysOnly) {
  auto a = Valid();
  FinalizeAndValidate(a);
  std::string text = CanonicalText(a);
  EXPECT_NE(text.find("C = 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("loss = logistic\n"), std::string::npos);
  EXPECT_EQ(text.find("epochs"), std::string::npos);
  EXPECT_EQ(text.find("ranks"), std::string::npos);
  EXPECT_EQ(text.find("output"), std::string::npos);
  auto b = a;
  b.epochs = 7;
  b.threads = 3;
  b.output = "other";
  b.ranks = 9;
  EXPECT_EQ(OptionsHash(a), OptionsHash(b));
  b.c = 0.5;
  EXPECT_NE(OptionsHash(a), OptionsHash(b));
  // Doubles round-trip exactly.
  b.c = 0.1 + 0.2;
  EXPECT_NE(CanonicalText(b).find("C = 0.30000000000000004\n"), std::string::npos);
}

TEST(Options, DifferingKeysNamesEachKeyAndBothValues) {
  auto a = Valid(), b = Valid();
  b.c = 2;
  b.bias = false;
  FinalizeAndValidate(a);
  FinalizeAndValidate(b);
  std::string diff = DifferingKeys(CanonicalText(a), CanonicalText(b));
  EXPECT_NE(diff.find("C ('1' here, '2' in the job)"), std::string::npos) << diff;
  EXPECT_NE(diff.find("bias ('true' here, 'false' in the job)"), std::string::npos) << diff;
  EXPECT_EQ(DifferingKeys(CanonicalText(a), CanonicalText(a)), "");
}

// Parses like `ringtrain train ARGS`: a root app with the train subcommand.
TrainOptions ParseArgs(std::vector<std::string> args, bool* zk_given = nullptr) {
  CLI::App app;
  CLI::App* sub = app.add_subcommand("train");
  cli::TrainCli cli;
  cli::RegisterTrainOptions(*sub, cli);
  std::vector<const char*> argv = {"ringtrain", "train"};
  for (auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  cli::FinishTrainOptions(*sub, cli);
  if (zk_given != nullptr) *zk_given = cli.options.zk_given;
  return cli.options;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  auto path = (std::filesystem::temp_directory_path() / name).string();
  FILE* f = std::fopen(path.c_str(), "w");
  EXPECT_NE(f, nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
  return path;
}

TEST(Options, EveryFieldIsACommandLineOption) {
  bool zk_given = false;
  auto o = ParseArgs({"--data", "d", "--C", "0.25", "--no-bias", "--epochs", "3", "--lr-decay",
                      "0.5", "--seed", "99", "--zk", "h:1", "--resume-from", "4"},
                     &zk_given);
  EXPECT_EQ(o.data, "d");
  EXPECT_EQ(o.c, 0.25);
  EXPECT_FALSE(o.bias);
  EXPECT_EQ(o.epochs, 3);
  EXPECT_EQ(o.lr_decay, 0.5);
  EXPECT_EQ(o.seed, 99u);
  EXPECT_EQ(o.resume_from, 4);
  EXPECT_TRUE(zk_given);
  EXPECT_THROW(ParseArgs({"--data", "d", "--no-such-option", "1"}), CLI::ParseError);
}

TEST(Options, BiasIsOnByDefaultAndEachWayOfTurningItOffWorks) {
  EXPECT_TRUE(ParseArgs({"--data", "d"}).bias);
  EXPECT_TRUE(ParseArgs({"--data", "d", "--bias"}).bias);
  EXPECT_FALSE(ParseArgs({"--data", "d", "--no-bias"}).bias);
  EXPECT_FALSE(ParseArgs({"--data", "d", "--bias=false"}).bias);
  EXPECT_TRUE(ParseArgs({"--data", "d", "--no-bias", "--bias"}).bias) << "the last one wins";
  auto path = WriteTemp("ringtrain_options_bias.toml", "data = \"d\"\nbias = false\n");
  EXPECT_FALSE(ParseArgs({"--config", path}).bias);
  EXPECT_TRUE(ParseArgs({"--config", path, "--bias"}).bias) << "the command line wins";
  std::filesystem::remove(path);
  // The alias is not a key: `bias = false` is.
  path = WriteTemp("ringtrain_options_nobias.toml", "data = \"d\"\nno-bias = true\n");
  EXPECT_THROW(ParseArgs({"--config", path}), UsageError);
  std::filesystem::remove(path);
}

// eval and predict register train's reader fields on their own structs: the same names,
// parsed the same way.
TEST(Options, ReaderFieldsRegisterOnAnyCommand) {
  struct Fields {
    std::string labels, format;
    int label_column = 0;
    std::string weight_column;  // CSV: 0-based instance weights column ("" = none, -1 = last)
  } f;
  CLI::App app;
  cli::RegisterReaderOptions(app, f);
  std::vector<std::string> names;
  VisitReaderFields(f, [&](const char* name, auto&, const char*, Scope) { names.push_back(name); });
  EXPECT_EQ(names, (std::vector<std::string>{"labels", "format", "label-column", "weight-column"}));
  std::vector<std::string> train_names;
  TrainOptions t;
  VisitTrainFields(
      t, [&](const char* name, auto&, const char*, Scope) { train_names.push_back(name); });
  for (const auto& n : names) {
    EXPECT_NE(app.get_option_no_throw("--" + n), nullptr) << n;
    EXPECT_NE(std::find(train_names.begin(), train_names.end(), n), train_names.end()) << n;
  }
  std::vector<const char*> argv = {"eval", "--label-column", "-1", "--format",
                                   "csv",  "--labels",       "l"};
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(f.label_column, -1);
  EXPECT_EQ(f.format, "csv");
  EXPECT_EQ(f.labels, "l");
}

TEST(Options, CommandLineWinsOverTheConfigFile) {
  auto path = WriteTemp("ringtrain_options_test.toml",
                        "data = \"from_file\"\nC = 4.0\nepochs = 9\nbias = false\nzk = \"h:2\"\n");
  bool zk_given = false;
  auto o = ParseArgs({"--config", path, "--C", "0.5"}, &zk_given);
  std::filesystem::remove(path);
  EXPECT_TRUE(zk_given);
  EXPECT_EQ(o.zk, "h:2");
  EXPECT_EQ(o.data, "from_file");
  EXPECT_EQ(o.epochs, 9);
  EXPECT_FALSE(o.bias);
  EXPECT_EQ(o.c, 0.5);
}

TEST(Options, ConfigFileErrorsAreUsageErrorsNamingTheKey) {
  auto path = WriteTemp("ringtrain_options_bad.toml", "data = \"d\"\nlearning_rate = 3\n");
  try {
    ParseArgs({"--config", path});
    ADD_FAILURE() << "unknown key accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(e.what_happened().find("learning_rate"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  path = WriteTemp("ringtrain_options_bad2.toml", "epochs = \"many\"\n");
  EXPECT_THROW(ParseArgs({"--config", path}), UsageError);
  std::filesystem::remove(path);
  EXPECT_THROW(ParseArgs({"--config", "/nonexistent/x.toml"}), UsageError);
}

TEST(Options, EveryShippedConfigParsesAndValidates) {
  int seen = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(RINGTRAIN_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    ++seen;
    SCOPED_TRACE(entry.path().string());
    TrainOptions o = ParseArgs({"--config", entry.path().string()});
    EXPECT_NO_THROW(FinalizeAndValidate(o));
    EXPECT_TRUE(std::filesystem::exists(o.data)) << o.data;
    if (!o.labels.empty()) {
      EXPECT_TRUE(std::filesystem::exists(o.labels)) << o.labels;
    }
    if (!o.test_data.empty()) {
      EXPECT_TRUE(std::filesystem::exists(o.test_data)) << o.test_data;
    }
  }
  EXPECT_GE(seen, 3);
}

}  // namespace
}  // namespace ringtrain::train
