// bench/models_bench.cc — models box speed, one JSON line per measurement:
//   models_bench --data FILE [--labels FILE] [--format F] [--threads 1,2] [--repeat N]
// Measures ReadShard (MB/s of input bytes) and one LossGradientSum (OVR logistic over all
// classes; the best of --repeat runs) at each thread count.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "models/dataset.h"
#include "models/linear_model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ringtrain::models;  // NOLINT: a benchmark main

int main(int argc, char** argv) {
  CLI::App app{"models box benchmark (JSON lines)"};
  ReadOptions o;
  std::string format;
  std::vector<int> threads = {1, 2};
  int repeat = 5;
  app.add_option("--data", o.path)->required();
  app.add_option("--labels", o.labels_path);
  app.add_option("--format", format);
  app.add_option("--threads", threads)->delimiter(',');
  app.add_option("--repeat", repeat);
  CLI11_PARSE(app, argc, argv);
  o.format = format.empty() ? GuessFormat(o.path) : ParseFormat(format);
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a) {
    return std::chrono::duration<double>(Clock::now() - a).count();
  };
  double bytes = static_cast<double>(std::filesystem::file_size(o.path));
  if (!o.labels_path.empty())
    bytes += static_cast<double>(std::filesystem::file_size(o.labels_path));
  auto t0 = Clock::now();
  Dataset d = ReadShard(o);
  const double read_s = seconds(t0);
  std::printf(
      "{\"bench\":\"read\",\"file\":\"%s\",\"rows\":%lld,\"features\":%lld,\"bytes\":%.0f,"
      "\"seconds\":%.4f,\"mb_per_s\":%.1f}\n",
      o.path.c_str(), static_cast<long long>(d.rows()), static_cast<long long>(d.num_features),
      bytes, read_s, bytes / 1e6 / read_s);
  ModelSpec spec;
  spec.classes = DistinctLabels(d);
  spec.num_features = d.num_features;
  spec.bias = true;
  AssignClasses(d, spec.classes);
  std::vector<double> w(static_cast<std::size_t>(spec.num_weights()), 0.001);
  std::vector<double> g(w.size());
  for (int t : threads) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#endif
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      std::fill(g.begin(), g.end(), 0.0);
      auto t1 = Clock::now();
      LossGradientSum(spec, d, w, g);
      best = std::min(best, seconds(t1));
    }
    std::printf(
        "{\"bench\":\"loss_gradient\",\"outputs\":%d,\"threads\":%d,\"seconds\":%.4f,"
        "\"storage_gb_per_s\":%.2f}\n",
        spec.num_outputs(), t, best, static_cast<double>(d.StorageBytes()) / 1e9 / best);
  }
  return 0;
}
