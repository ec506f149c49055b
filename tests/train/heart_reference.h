// tests/train/heart_reference.h — heart_scale and Debian's liblinear-train as the accuracy
// reference for the optimizer tests (liblinear_reference_test, tron_test).
//
// RunLiblinear runs liblinear-train (-c 1 -B 1 -e 0.0001, or the -e given) on heart_scale and
// reads its model file; LiblinearObjective evaluates OUR objective at liblinear's weights (mapped
// to our sign convention: class index 1 positive), which is the reference the optimizers must
// reach.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "support/subprocess.h"
#include "train/objective.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train::testing {

inline const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";

struct Liblinear {
  std::vector<double> labels;  // liblinear's label order; labels[0] is its positive class
  std::vector<double> w;       // nr_feature (+1 bias) weights, binary
};

// liblinear-train `args` (after the program name, before the files) on `data`, run by the test;
// its model file read back: labels (first-appearance order, as liblinear lists them; none for
// regression) and the weight lines flattened (feature-major: nr_w values per feature line).
inline Liblinear RunLiblinearTrain(const std::vector<std::string>& args, const std::string& data,
                                   const ringtrain::testing::TempDir& dir) {
  const std::string model = dir.File("liblinear.model");
  std::vector<std::string> argv = {"/usr/bin/liblinear-train"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-q", data, model});
  ringtrain::testing::Subprocess p(argv, {}, dir.File("ll.out"), dir.File("ll.err"));
  auto st = p.Wait(std::chrono::seconds(60));
  EXPECT_TRUE(st.exited && st.code == 0) << st.Describe();
  std::ifstream in(model);
  Liblinear out;
  std::string line;
  bool in_w = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    double v;
    if (in_w) {
      while (ls >> v) out.w.push_back(v);
      continue;
    }
    std::string key;
    ls >> key;
    if (key == "label") {
      while (ls >> v) out.labels.push_back(v);
    } else if (key == "w") {
      in_w = true;
    }
  }
  return out;
}

inline Liblinear RunLiblinear(int solver, const ringtrain::testing::TempDir& dir,
                              const std::string& eps = "0.0001") {
  Liblinear out = RunLiblinearTrain({"-s", std::to_string(solver), "-c", "1", "-B", "1", "-e", eps},
                                    kHeart, dir);
  EXPECT_EQ(out.labels.size(), 2u);
  return out;
}

// heart_scale, C = 1, bias, tol 1e-7, one thread, validated.
inline TrainOptions HeartOptions(const std::string& loss, const std::string& optimizer,
                                 std::int64_t epochs) {
  TrainOptions o;
  o.optimizer = optimizer;
  o.data = kHeart;
  o.model = loss == "logistic" ? "lr" : "svm";
  o.loss = loss;
  o.c = 1.0;
  o.bias = true;
  o.tol = 1e-7;
  o.epochs = epochs;
  o.threads = 1;
  FinalizeAndValidate(o);
  return o;
}

// Our objective at weights w (single process).
inline double ObjectiveAt(const TrainOptions& o, std::vector<double> w) {
  allreduce::SelfCommunicator self;
  ShardedData data = LoadShardedData(o, self);
  EXPECT_EQ(static_cast<std::int64_t>(w.size()), data.spec.num_weights());
  LocalObjective local(data.spec, data.train, o.c);
  const auto reg = models::Regularizer::Of(o.choices.penalty, o.l1_ratio);
  DistributedObjective f(local, self, data.global_rows, reg.l2);
  std::vector<double> g(w.size());
  double abs = 0;
  for (double v : w) abs += std::fabs(v);
  return f.ValueGradient(w, g) + reg.l1 * abs;  // the penalty's |w|_1 part (0 for l2)
}

// Our objective at liblinear's weights, mapped to our convention (class index 1 positive).
inline double LiblinearObjective(const TrainOptions& o, const Liblinear& ll) {
  allreduce::SelfCommunicator self;
  const double positive = LoadShardedData(o, self).spec.classes[1];
  std::vector<double> w = ll.w;
  if (!ll.labels.empty() && ll.labels[0] != positive)
    for (double& v : w) v = -v;
  return ObjectiveAt(o, w);
}

}  // namespace ringtrain::train::testing
