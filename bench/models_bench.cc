// bench/models_bench.cc — models box speed, one JSON line per measurement:
//   models_bench --data FILE [--labels FILE] [--format F] [--threads 1,2] [--repeat N]
//                [--loss logistic|squared_hinge] [--renumber]
// Measures ReadShard (MB/s of input bytes); the machine's read bandwidth over an array of the
// shard's storage size (a plain sum, the reference of issue 11 item 3); and, at each thread
// count, the best of --repeat runs of one LossGradientSum, one HessianVectorSum (at a w whose
// Hessian coefficients are cached, as in trust-region Newton's CG steps) and one
// HessianDiagonalSum — each as seconds, shard storage GB/s and that rate's share of the read
// bandwidth ("of_read_bw"); and "gather_floor": one plain gather v[col] * val per nonzero,
// nothing else, the least any pass that reads the model at the rows' features must do. The
// one-thread kernels pick their layout by timing their first calls at a size (models/
// gradient_internal.h: LayoutTrial), so use --repeat 6 or more. --renumber (an experiment,
// docs/training.md "Per-pass speed"): features renumbered by frequency in the shard, most
// frequent first, each row re-sorted, before anything is measured.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/huge_pages.h"
#include "models/dataset.h"
#include "models/linear_model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ringtrain::models;  // NOLINT: a benchmark main

namespace {
using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

// Best-of-`repeat` seconds to sum `bytes` of 64-bit words with `threads` threads (four
// accumulators per thread so the adds do not serialise): the streaming read rate the data
// passes are compared with.
double ReadBandwidth(std::size_t bytes, int threads, int repeat) {
  std::vector<std::uint64_t> a(bytes / 8 + 4);
  std::iota(a.begin(), a.end(), std::uint64_t{1});
  double best = 1e30;
  volatile std::uint64_t sink = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = Clock::now();
    std::uint64_t total = 0;
    const auto n = static_cast<std::int64_t>(a.size() / 4 * 4);
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
    for (std::int64_t i = 0; i < n; i += 4) total += a[i] + a[i + 1] + a[i + 2] + a[i + 3];
    best = std::min(best, Seconds(t0));
    sink = sink + total;
  }
  return static_cast<double>(bytes) / best;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"models box benchmark (JSON lines)"};
  ReadOptions o;
  std::string format, loss = "logistic";
  std::vector<int> threads = {1, 2};
  int repeat = 5;
  app.add_option("--data", o.path)->required();
  app.add_option("--labels", o.labels_path);
  app.add_option("--format", format);
  app.add_option("--threads", threads)->delimiter(',');
  app.add_option("--repeat", repeat);
  bool renumber = false;
  app.add_flag("--renumber", renumber);
  app.add_option("--loss", loss)->check(CLI::IsMember({"logistic", "squared_hinge"}));
  CLI11_PARSE(app, argc, argv);
  o.format = format.empty() ? GuessFormat(o.path) : ParseFormat(format);
  double bytes = static_cast<double>(std::filesystem::file_size(o.path));
  if (!o.labels_path.empty())
    bytes += static_cast<double>(std::filesystem::file_size(o.labels_path));
  auto t0 = Clock::now();
  Dataset d = ReadShard(o);
  const double read_s = Seconds(t0);
  if (renumber) {
    std::vector<std::int64_t> count(static_cast<std::size_t>(d.num_features), 0);
    for (std::int32_t c : d.col) ++count[static_cast<std::size_t>(c)];
    std::vector<std::int32_t> order(count.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      return count[static_cast<std::size_t>(a)] > count[static_cast<std::size_t>(b)];
    });
    std::vector<std::int32_t> rank(order.size());
    for (std::size_t k = 0; k < order.size(); ++k)
      rank[static_cast<std::size_t>(order[k])] = static_cast<std::int32_t>(k);
    std::vector<std::pair<std::int32_t, float>> row;
    for (std::int64_t r = 0; r < d.rows(); ++r) {
      const auto b = static_cast<std::size_t>(d.row_ptr[static_cast<std::size_t>(r)]);
      const auto e = static_cast<std::size_t>(d.row_ptr[static_cast<std::size_t>(r) + 1]);
      row.clear();
      for (std::size_t k = b; k < e; ++k)
        row.emplace_back(rank[static_cast<std::size_t>(d.col[k])], d.val[k]);
      std::sort(row.begin(), row.end());
      for (std::size_t k = b; k < e; ++k) std::tie(d.col[k], d.val[k]) = row[k - b];
    }
  }
  const double storage = static_cast<double>(d.StorageBytes());
  std::printf(
      "{\"bench\":\"read\",\"file\":\"%s\",\"rows\":%lld,\"features\":%lld,\"nonzeros\":%lld,"
      "\"bytes\":%.0f,\"storage_bytes\":%.0f,\"seconds\":%.4f,\"mb_per_s\":%.1f}\n",
      o.path.c_str(), static_cast<long long>(d.rows()), static_cast<long long>(d.num_features),
      static_cast<long long>(d.nonzeros()), bytes, storage, read_s, bytes / 1e6 / read_s);
  ModelSpec spec;
  spec.loss = loss == "logistic" ? Loss::kLogistic : Loss::kSquaredHinge;
  spec.classes = DistinctLabels(d);
  spec.num_features = d.num_features;
  spec.bias = true;
  AssignClasses(d, spec.classes);
  // The optimizer's vectors are HugeVectors (common/huge_pages.h); the model's weights are not.
  std::vector<double> w(static_cast<std::size_t>(spec.num_weights()), 0.001);
  ringtrain::common::HugeVector<double> v(w.size()), g(w.size());
  for (std::size_t j = 0; j < v.size(); ++j) v[j] = 1.0 / static_cast<double>(j % 97 + 1);
  for (int t : threads) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#endif
    const double bw = ReadBandwidth(static_cast<std::size_t>(storage), t, repeat);
    std::printf("{\"bench\":\"read_bandwidth\",\"threads\":%d,\"bytes\":%.0f,\"gb_per_s\":%.2f}\n",
                t, storage, bw / 1e9);
    auto measure = [&](const char* name, auto&& pass) {
      double best = 1e30;
      for (int r = 0; r < repeat; ++r) {
        std::fill(g.begin(), g.end(), 0.0);
        const auto t1 = Clock::now();
        pass();
        best = std::min(best, Seconds(t1));
      }
      std::printf(
          "{\"bench\":\"%s\",\"loss\":\"%s\",\"outputs\":%d,\"features\":%lld,\"threads\":%d,"
          "\"seconds\":%.4f,\"storage_gb_per_s\":%.2f,\"of_read_bw\":%.3f}\n",
          name, loss.c_str(), spec.num_outputs(), static_cast<long long>(d.num_features), t, best,
          storage / 1e9 / best, storage / best / bw);
    };
    // The floor of any pass that reads the model at the row's features: one plain gather per
    // nonzero (sum of v[col] * val over the shard), no scatter, no loss.
    measure("gather_floor", [&] {
      double total = 0;
      const auto rows = d.rows();
#pragma omp parallel for num_threads(t) reduction(+ : total) schedule(static)
      for (std::int64_t r = 0; r < rows; ++r) {
        double a = 0;
        for (auto k = d.row_ptr[static_cast<std::size_t>(r)];
             k < d.row_ptr[static_cast<std::size_t>(r) + 1]; ++k)
          a += v[static_cast<std::size_t>(d.col[static_cast<std::size_t>(k)])] *
               d.val[static_cast<std::size_t>(k)];
        total += a;
      }
      g[0] += total;
    });
    measure("loss_gradient", [&] { LossGradientSum(spec, d, w, g); });
    HessianVectorSum(spec, d, w, v, g);  // caches the coefficients at w, like CG's first step
    measure("hessian_vector", [&] { HessianVectorSum(spec, d, w, v, g); });
    measure("hessian_diagonal", [&] { HessianDiagonalSum(spec, d, w, g); });
  }
  return 0;
}
