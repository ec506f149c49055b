// train/trainer.cc — Train(): shard, agree, optimise, evaluate, report, save.
#include "train/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "train/agree.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "train/partitions.h"
#include "train/timed_communicator.h"
#include "train/weights.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ringtrain::train {
namespace {
// The process's peak resident set so far (getrusage: KiB on Linux).
double PeakRssBytes() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? static_cast<double>(u.ru_maxrss) * 1024.0 : 0.0;
}

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A classifier's labels are classes (a regression model's are targets).
bool IsClassifier(const TrainOptions& o) {
  return models::Info(o.choices.loss).task == models::Task::kClassification;
}

// A classifier's labels that look like real-valued targets: many distinct values with few rows
// each (integer-valued targets; a non-integer label is refused by the reader already). Every
// rank decides on the agreed values, so all fail together; the error names the first row.
constexpr std::size_t kContinuousMinLabels = 20;
constexpr std::int64_t kContinuousRowsPerLabel = 3;

void CheckLabelsLookLikeClasses(const std::vector<double>& classes, std::int64_t global_rows,
                                std::int64_t first_line, const std::string& path) {
  if (classes.size() <= kContinuousMinLabels ||
      global_rows >= kContinuousRowsPerLabel * static_cast<std::int64_t>(classes.size()))
    return;
  throw DataError("the labels look continuous: " + std::to_string(classes.size()) +
                      " distinct values in " + std::to_string(global_rows) + " rows (fewer than " +
                      std::to_string(kContinuousRowsPerLabel) + " rows per value), from " +
                      models::LabelText(classes.front()) + " to " +
                      models::LabelText(classes.back()) + ", but a classifier needs classes",
                  first_line > 0 ? path + ":" + std::to_string(first_line) : path,
                  models::RegressionHint());
}

// ROC and PR AUC need every row's score: above this many rows in one evaluated set the
// per-epoch lines leave them out (eval computes them on any size).
constexpr std::int64_t kMaxCurveRows = std::int64_t{1} << 21;

// The metrics of one evaluated set, the same on every rank: the task's sums over every rank's
// shard (one allreduce, which also carries each rank's row count) and, for two classes, the
// exact ROC and PR AUC over the scores of every rank's rows (the ones the sums were computed
// from), gathered by one allreduce of a zero buffer in which each rank fills its own rows.
struct SetMetrics {
  models::EvalSums sums;
  std::vector<std::pair<std::string, double>> metrics;
};
SetMetrics EvalSet(const models::LinearModel& model, const models::Dataset& data,
                   allreduce::Communicator& comm) {
  SetMetrics out;
  const bool binary = model.spec.classes.size() == 2;
  std::vector<double> scores;
  std::vector<double> packed = models::Evaluate(model, data, binary ? &scores : nullptr).Pack();
  const std::size_t sums = packed.size(), world = static_cast<std::size_t>(comm.world_size());
  packed.resize(sums + world, 0.0);  // slot r: rank r's rows (the others add zeros)
  packed[sums + static_cast<std::size_t>(comm.rank())] = static_cast<double>(data.rows());
  comm.AllreduceSum(std::span<double>(packed));
  out.sums = models::EvalSums::Unpack(std::span<const double>(packed.data(), sums),
                                      model.spec.classes.size());
  out.metrics = models::TaskMetrics(model.spec, out.sums);
  if (!binary) return out;
  std::int64_t total = 0, offset = 0;
  for (std::size_t r = 0; r < world; ++r) {
    const auto rows = static_cast<std::int64_t>(packed[sums + r]);
    if (static_cast<int>(r) < comm.rank()) offset += rows;
    total += rows;
  }
  if (total == 0 || total > kMaxCurveRows) return out;
  const auto n = static_cast<std::size_t>(total);
  std::vector<double> buf(2 * n, 0.0);  // scores, then class indices (+0: x + 0 == x)
  for (std::size_t i = 0; i < scores.size(); ++i) {
    buf[static_cast<std::size_t>(offset) + i] = scores[i];
    buf[n + static_cast<std::size_t>(offset) + i] = data.class_index[i];
  }
  comm.AllreduceSum(std::span<double>(buf));
  std::vector<std::int32_t> classes(n);
  for (std::size_t i = 0; i < n; ++i) classes[i] = static_cast<std::int32_t>(buf[n + i]);
  const std::span<const double> all(buf.data(), n);
  out.metrics.emplace_back("auc", models::BinaryAuc(all, classes));
  out.metrics.emplace_back("pr_auc", models::BinaryPrAuc(all, classes));
  return out;
}

double MetricValue(const std::vector<std::pair<std::string, double>>& metrics,
                   const std::string& name) {
  for (const auto& [k, v] : metrics)
    if (k == name) return v;
  return kNaN;
}

// --early-stop-metric: larger is better for these, smaller for log_loss, mse and mae.
bool HigherIsBetter(const std::string& metric) {
  return metric == "accuracy" || metric == "macro_f1" || metric == "auc" || metric == "pr_auc" ||
         metric == "r2";
}

std::string ShapeText(const models::ModelSpec& s) {
  std::string out = std::to_string(s.num_features) + " features" + (s.bias ? " + bias" : "") +
                    " x " + std::to_string(s.num_outputs()) + " output" +
                    (s.num_outputs() == 1 ? "" : "s");
  if (s.regression()) return out + " (regression)";
  out += " (classes";
  for (double c : s.classes) out += " " + models::LabelText(c);
  return out + ")";
}

// --init-model: the weights of a model file of this run's shape (every rank reads it, like
// the data); another shape is refused naming both.
std::vector<double> InitialWeights(const TrainOptions& o, const models::ModelSpec& spec) {
  const models::LinearModel init = models::LoadModel(o.init_model);
  const models::ModelSpec& s = init.spec;
  const bool same = s.num_features == spec.num_features && s.bias == spec.bias &&
                    s.regression() == spec.regression() && s.classes == spec.classes &&
                    s.num_outputs() == spec.num_outputs() &&
                    (!s.bias || s.bias_value == spec.bias_value) &&
                    init.weights.size() == static_cast<std::size_t>(spec.num_weights());
  if (!same)
    throw UsageError("--init-model has shape " + ShapeText(s) + ", this run's data and options " +
                         "give " + ShapeText(spec),
                     o.init_model,
                     "start from a model trained on the same features, bias and classes, or "
                     "drop --init-model");
  return init.weights;
}

// "%.<precision>g" (fixed = false) or "%.<precision>f"; "-" for NaN.
std::string Fmt(double v, int precision, bool fixed) {
  if (std::isnan(v)) return "-";
  char buf[64];
  if (fixed) {
    std::snprintf(buf, sizeof(buf), "%.*f", precision, v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
  }
  return buf;
}

std::string RowsText(const PartitionMap& map) {
  std::string out;
  for (const Part& p : map.parts) out += (out.empty() ? "" : ",") + std::to_string(p.rows);
  return out;
}

// "train_acc a<sep>test_acc b" (classification) or "train_mse a<sep>test_mse b" (regression).
std::string Headline(const EpochMetrics& m, const std::string& sep) {
  if (!m.regression) {
    return "train_acc " + Fmt(m.train_accuracy, 4, true) + sep + "test_acc " +
           Fmt(m.test_accuracy, 4, true);
  }
  auto mse = [](const std::vector<std::pair<std::string, double>>& v) {
    return v.empty() ? kNaN : v.front().second;  // mse leads (TaskMetrics)
  };
  return "train_mse " + Fmt(mse(m.train_metrics), 6, false) + sep + "test_mse " +
         Fmt(mse(m.test_metrics), 6, false);
}

std::string DescribeSpec(const models::ModelSpec& s) {
  std::string out = models::ToString(s.loss);
  if (s.classes.size() > 2) out += " " + models::ToString(s.multiclass);
  if (models::Info(s.loss).uses_epsilon) out += " (epsilon " + Fmt(s.epsilon, 6, false) + ")";
  out +=
      ", " +
      (s.regression() ? std::string("regression") : std::to_string(s.classes.size()) + " classes") +
      ", " + std::to_string(s.num_features) + " features" + (s.bias ? " + bias" : "") + ", " +
      std::to_string(s.num_weights()) + " weights";
  return out;
}

}  // namespace

std::string EpochMetrics::ToJson() const {
  nlohmann::json j;
  j["epoch"] = epoch;
  j["objective"] = objective;
  j["grad_norm"] = grad_norm;
  j["train_accuracy"] = train_accuracy;
  j["test_accuracy"] = test_accuracy;
  j["samples_per_s"] = samples_per_s;
  j["allreduce_s"] = allreduce_s;
  j["epoch_s"] = epoch_s;
  j["passes"] = passes;
  j["hessian_products"] = hessian_products;
  j["read_s"] = read_s;
  j["wall_s"] = wall_s;
  j["generation"] = generation;
  j["world_size"] = world_size;
  j["converged"] = converged;
  if (!stop_reason.empty()) j["stop_reason"] = stop_reason;
  j["partition_generation"] = partition_generation;
  j["rank_compute_s"] = rank_compute_s;
  j["rank_optimizer_s"] = rank_optimizer_s;
  j["rank_rows"] = rank_rows;
  if (regression) {
    j.erase("train_accuracy");
    j.erase("test_accuracy");
  }
  for (const auto& [name, v] : train_metrics) j["train_" + name] = v;
  for (const auto& [name, v] : test_metrics) j["test_" + name] = v;
  for (const auto& [name, v] : validation_metrics) j["validation_" + name] = v;
  // K x K as rows (true class) of counts per predicted class.
  auto confusion = [&](const char* key, const std::vector<double>& c) {
    const auto k = static_cast<std::size_t>(std::llround(std::sqrt(static_cast<double>(c.size()))));
    if (c.empty() || k * k != c.size()) return;
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t t = 0; t < k; ++t)
      rows.push_back(std::vector<double>(c.begin() + static_cast<std::ptrdiff_t>(t * k),
                                         c.begin() + static_cast<std::ptrdiff_t>((t + 1) * k)));
    j[key] = rows;
  };
  confusion("train_confusion", train_confusion);
  confusion("test_confusion", test_confusion);
  confusion("validation_confusion", validation_confusion);
  if (best_epoch > 0) j["best_epoch"] = best_epoch;
  return j.dump();  // NaN becomes null
}

void FitFeatures(models::Dataset& data, std::int64_t n) {
  if (data.num_features <= n) {
    models::SetNumFeatures(data, n);
    return;
  }
  if (data.is_dense()) {
    const auto old_cols = static_cast<std::size_t>(data.dense_cols);
    const auto cols = static_cast<std::size_t>(n);
    const auto rows = static_cast<std::size_t>(data.rows());
    for (std::size_t r = 0; r < rows; ++r)
      std::copy_n(data.dense.begin() + static_cast<std::ptrdiff_t>(r * old_cols), cols,
                  data.dense.begin() + static_cast<std::ptrdiff_t>(r * cols));
    data.dense.resize(rows * cols);
    data.dense_cols = n;
  } else {
    std::size_t out = 0;
    std::int64_t start = 0;
    for (std::size_t r = 0; r + 1 < data.row_ptr.size(); ++r) {
      std::int64_t end = data.row_ptr[r + 1];
      for (std::int64_t k = start; k < end; ++k) {
        auto ks = static_cast<std::size_t>(k);
        if (data.col[ks] >= n) continue;
        data.col[out] = data.col[ks];
        data.val[out] = data.val[ks];
        ++out;
      }
      start = end;
      data.row_ptr[r + 1] = static_cast<std::int64_t>(out);
    }
    data.col.resize(out);
    data.val.resize(out);
  }
  data.num_features = n;
}

namespace {
// Before the weights and the optimizer's vectors are allocated: their size is estimated from
// the agreed feature and class counts and refused above --max-model-bytes (the smallest limit
// of the ranks, so every rank decides alike), naming the file and line of the largest feature
// index (read by whichever rank saw it).
void CheckModelBytes(const TrainOptions& o, const ShardedData& d,
                     const std::vector<std::int64_t>& widths, allreduce::Communicator& comm) {
  std::int64_t limit = o.max_model_bytes;
  if (limit == 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    limit = pages > 0 && page > 0 ? static_cast<std::int64_t>(pages) * page / 2
                                  : std::numeric_limits<std::int64_t>::max();
  }
  const auto limits = AllGatherInt(comm, std::min<std::int64_t>(limit, std::int64_t{1} << 52));
  limit = *std::min_element(limits.begin(), limits.end());
  const auto lines = AllGatherInt(comm, d.train.widest_line);
  // Vectors of num_weights doubles: weights, gradient, allreduce buffer + the optimizer's.
  const double vectors = o.optimizer == "lbfgs"  ? 2.0 * o.lbfgs_memory + 6
                         : o.optimizer == "tron" ? 10.0
                                                 : 5.0;
  const double bytes = static_cast<double>(d.spec.num_weights()) * 8.0 * vectors;
  if (bytes <= static_cast<double>(limit)) return;
  const auto widest =
      static_cast<std::size_t>(std::max_element(widths.begin(), widths.end()) - widths.begin());
  const std::int64_t line = lines[widest];
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.3g bytes", bytes);
  throw DataError(
      "the model would need " + std::string(buf) + " (" + std::to_string(d.spec.num_features) +
          " features x " + std::to_string(d.spec.num_outputs()) + " outputs x " +
          std::to_string(static_cast<int>(vectors)) + " vectors of doubles for " + o.optimizer +
          "), above --max-model-bytes " + std::to_string(limit) +
          "; the largest feature index is " + std::to_string(d.spec.num_features),
      o.data + (line > 0 ? ":" + std::to_string(line) : std::string()) +
          (d.train.widest_line == 0 && line > 0 ? " (read by rank " + std::to_string(widest) + ")"
                                                : std::string()),
      "check the feature indices of that line, or raise --max-model-bytes");
}
}  // namespace

ShardedData LoadShardedData(const TrainOptions& o, allreduce::Communicator& comm,
                            const PartitionMap* start, std::int64_t ring_generation,
                            std::int64_t epoch, std::int64_t floor) {
  const auto t0 = Clock::now();
  ShardedData d;
  d.baseline_rss_bytes = PeakRssBytes();
  const int rank = comm.rank(), world = comm.world_size();
  const bool classifier = IsClassifier(o);
  const bool recorded = start != nullptr && MapFits(*start, world, o);
  if (recorded) {
    const Part& p = start->parts[static_cast<std::size_t>(rank)];
    d.train = ReadPart(o.data, o.labels, "--labels", o, rank, world, classifier, p.begin, p.end);
  } else {
    d.train = ReadPart(o.data, o.labels, "--labels", o, rank, world, classifier);
  }
  d.has_test = !o.test_data.empty();
  d.has_validation = !o.validation_data.empty();
  // Test labels are not checked: a value the model never saw is an error in the accuracy.
  if (d.has_test)
    d.test = ReadPart(o.test_data, o.test_labels, "--test-labels", o, rank, world, false);
  if (d.has_validation)
    d.validation = ReadPart(o.validation_data, o.validation_labels, "--validation-labels", o, rank,
                            world, false);

  // Feature count: the widest training shard. Test data is fitted to it.
  auto widths = AllGatherInt(comm, d.train.num_features);
  std::int64_t features = *std::max_element(widths.begin(), widths.end());
  d.rows_per_rank = AllGatherInt(comm, d.train.rows());
  for (auto r : d.rows_per_rank) {
    d.global_rows += r;
    d.max_local_rows = std::max(d.max_local_rows, r);
  }
  if (d.global_rows == 0)
    throw DataError("the training data has no rows", o.data, "check the file and --format");
  models::SetNumFeatures(d.train, features);
  if (d.has_test) FitFeatures(d.test, features);
  if (d.has_validation) FitFeatures(d.validation, features);
  d.test.row_weight.clear();  // held-out rows are evaluated unweighted
  d.validation.row_weight.clear();
  const auto floors = AllGatherInt(comm, floor);
  floor = *std::max_element(floors.begin(), floors.end());
  if (recorded) {
    d.map = GatherMap(d.train, comm, o, std::max(start->generation, floor), ring_generation,
                      start->epoch, start->reason);
    if (d.map.total_rows != start->total_rows || d.map.parts.size() != start->parts.size())
      throw DataError("the recorded partition map does not match the data", o.data,
                      "the file changed since the checkpoint; resume with the same data");
    for (std::size_t r = 0; r < d.map.parts.size(); ++r) {
      d.map.parts[r].compute_s = start->parts[r].compute_s;
      d.map.parts[r].rows_per_s = start->parts[r].rows_per_s;
    }
  } else {
    d.map =
        GatherMap(d.train, comm, o, std::max(start != nullptr ? start->generation + 1 : 1, floor),
                  ring_generation, epoch, "equal split");
  }

  if (classifier) {
    auto classes = AgreeUnion(comm, models::DistinctLabels(d.train));
    // The first row of the file is on the lowest rank holding a row.
    std::int64_t first_line = 0;
    for (std::int64_t line : AllGatherInt(comm, d.train.first_line))
      if (first_line == 0) first_line = line;
    CheckLabelsLookLikeClasses(classes, d.global_rows, first_line, o.data);
    if (classes.size() < 2)
      throw DataError("the training data has only one class (label " +
                          std::to_string(classes.empty() ? 0.0 : classes[0]) + ")",
                      o.data, "a classifier needs at least two distinct labels");
    models::AssignClasses(d.train, classes);
    // liblinear-predict's behaviour: rows of a class the model never saw are evaluated and
    // count as errors; the leader says so once per file, naming the classes.
    auto assign = [&](models::Dataset& set, const std::string& path) {
      std::vector<double> unseen = AgreeUnion(comm, models::AssignClasses(set, classes));
      if (unseen.empty()) return;
      std::vector<double> rows = {0.0, static_cast<double>(set.rows())};
      for (auto k : set.class_index) rows[0] += k == models::kUnseenClass ? 1.0 : 0.0;
      comm.AllreduceSum(std::span<double>(rows));
      if (comm.rank() == 0) log::Warn(models::UnseenClassesWarning(path, unseen, rows[0], rows[1]));
    };
    if (d.has_test) assign(d.test, o.test_data);
    if (d.has_validation) assign(d.validation, o.validation_data);
    d.spec.classes = classes;
  }  // regression: the raw labels are the targets (the readers checked they are finite)

  d.spec.loss = o.choices.loss;
  d.spec.multiclass = o.choices.multiclass;
  d.spec.epsilon = models::Info(o.choices.loss).uses_epsilon ? o.epsilon : 0.0;
  AssignRowWeights(o, d, comm);
  d.spec.num_features = features;
  d.spec.bias = o.bias;
  CheckModelBytes(o, d, widths, comm);
  d.read_s = Seconds(t0);
  return d;
}

TrainResult TrainOnData(const TrainOptions& o, ShardedData& data,
                        allreduce::Communicator& base_comm, const RunInfo& info,
                        const TrainHooks& hooks) {
  TimedCommunicator comm(base_comm);
  const bool leader = comm.rank() == 0;
  const int world = comm.world_size();
#ifdef _OPENMP
  int threads = o.threads;
  if (threads == 0) {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    threads = std::max(1, static_cast<int>(cores) / std::max(1, info.local_ranks));
  }
  omp_set_num_threads(threads);
#endif

  TrainResult result;
  result.global_rows = data.global_rows;
  TrainState& state = result.state;
  state.options_hash = OptionsHash(o);
  state.model.spec = data.spec;
  state.model.weights.assign(static_cast<std::size_t>(data.spec.num_weights()), 0.0);
  state.model.c = o.c;
  state.model.penalty = o.choices.penalty;
  state.model.l1_ratio = o.choices.penalty == models::Penalty::kElastic ? o.l1_ratio : 0.0;
  const models::Regularizer reg = state.model.regularizer();
  std::int64_t first_epoch = 1;
  LocalObjective local(state.model.spec, data.train, o.c);
  DistributedObjective objective(local, comm, data.global_rows, reg.l2);

  objective.set_after_compute(hooks.after_compute);

  // sgd's steps per epoch follow the largest shard: it is made again when the map changes.
  const OptimizerKind kind = o.choices.optimizer;
  double tol = 0;
  if (kind == OptimizerKind::kLbfgs || kind == OptimizerKind::kTron) {
    if (data.spec.regression()) {
      tol = o.tol;  // liblinear's rule for -s 11: |g| <= eps * |g0|
    } else {
      // liblinear's primal stopping rule: |g| <= eps * max(min(#pos, #neg), 1) / l * |g0|; for
      // several classes the smallest of the one-vs-rest splits.
      std::vector<double> counts(data.spec.classes.size(), 0.0);
      for (auto k : data.train.class_index) counts[static_cast<std::size_t>(k)] += 1.0;
      comm.AllreduceSum(std::span<double>(counts));
      const double n = static_cast<double>(data.global_rows);
      double smallest = n;
      for (double c : counts) smallest = std::min(smallest, std::min(c, n - c));
      tol = o.tol * std::max(smallest, 1.0) / n;
    }
  }
  double g0_norm = 0;  // 0: the optimizer's first point (set below for --init-model)
  auto make_optimizer = [&]() -> std::unique_ptr<Optimizer> {
    if (kind == OptimizerKind::kTron) {
      TronOptions to;
      to.tol = tol;
      to.g0_norm = g0_norm;
      return MakeTron(objective, to);
    }
    if (kind == OptimizerKind::kLbfgs) {
      LbfgsOptions lo;
      lo.memory = o.lbfgs_memory;
      lo.tol = tol;
      lo.l1 = reg.l1;
      lo.g0_norm = g0_norm;
      return MakeLbfgs(objective, lo);
    }
    SgdOptions so;
    so.batch_size = o.batch_size;
    so.steps_per_epoch = (data.max_local_rows + o.batch_size - 1) / o.batch_size;
    so.lr = o.lr;
    so.lr_decay = o.lr_decay;
    so.momentum = o.momentum;
    so.seed = o.seed;
    so.stream = static_cast<std::uint64_t>(comm.rank());
    return MakeSgd(objective, so);
  };
  // A warm start stops by the rule of a cold one: |g0| is the (pseudo-)gradient at w = 0.
  if (!o.init_model.empty() && hooks.start == nullptr && kind != OptimizerKind::kSgd) {
    std::vector<double> zero(state.model.weights.size(), 0.0), g(zero.size());
    objective.ValueGradient(zero, g);
    double sq = 0;
    for (double v : g) {
      const double pg = std::max(std::fabs(v) - reg.l1, 0.0);  // min-norm subgradient at 0
      sq += pg * pg;
    }
    g0_norm = std::sqrt(sq);
  }
  if (!o.init_model.empty() && hooks.start == nullptr) {
    state.model.weights = InitialWeights(o, state.model.spec);
    if (leader)
      log::Info("init: starting from the weights of " + o.init_model + " (" +
                std::to_string(state.model.nonzero_weights()) + " of " +
                std::to_string(state.model.weights.size()) + " nonzero)");
  }
  std::unique_ptr<Optimizer> optimizer = make_optimizer();
  if (hooks.start != nullptr) {
    if (hooks.start->model.spec.num_weights() != data.spec.num_weights())
      throw CheckpointError("the checkpoint's model shape differs from this run's data", "",
                            "resume with the same data and model options");
    state.model.weights = hooks.start->model.weights;
    optimizer->RestoreState(hooks.start->optimizer_state);
    first_epoch = hooks.start->model.epoch + 1;
  }

  if (leader) {
    std::string shards;
    for (auto r : data.rows_per_rank) shards += (shards.empty() ? "" : ",") + std::to_string(r);
    log::Info("train: job " + info.job + ", world " + std::to_string(world) + ", generation " +
              std::to_string(info.generation) + ", rows per shard [" + shards + "] of " +
              std::to_string(data.global_rows) + "; " + DescribeSpec(data.spec) + "; " +
              (reg.l1 > 0 ? "OWL-QN (" + o.optimizer + "), penalty " + o.penalty : o.optimizer) +
              ", C " + Fmt(o.c, 6, false) + ", up to " + std::to_string(o.epochs) + " epochs");
    // What this rank's shard costs in memory: the CSR (or dense) storage with its labels and
    // row offsets, per stored value.
    const auto& t = data.train;
    const double values = static_cast<double>(t.is_dense() ? t.dense.size() : t.val.size());
    const double bytes = static_cast<double>(t.StorageBytes());
    log::Info("data: shard 0 read in " + Fmt(data.read_s, 2, true) + " s, " +
              Fmt(bytes / 1048576.0, 1, true) + " MiB in memory, " +
              Fmt(values > 0 ? bytes / values : kNaN, 2, true) + " bytes per nonzero");
  }
  std::ofstream metrics;
  if (leader && !o.metrics.empty()) {
    metrics.open(o.metrics, std::ios::app);
    if (!metrics)
      throw UsageError("cannot open the metrics file for writing", o.metrics,
                       "check the directory exists and is writable");
  }

  const auto start = Clock::now();
  const bool sgd = kind == OptimizerKind::kSgd;
  // Row weights are assigned once, to the rows read when the ring formed; a move would have
  // to carry them, so a weighted run keeps its partition (said once).
  const bool weighted = !data.train.row_weight.empty();
  const bool balance = o.balance == "auto" && world > 1 && !weighted;
  if (leader && o.balance == "auto" && world > 1 && weighted)
    log::Info(
        "balance: off for this run (row weights from --weights/--class-weight stay with "
        "the partition they were read in)");
  Balancer balancer(o.balance_threshold);
  std::int64_t best_epoch = 0;  // --early-stop
  double best_value = kNaN;
  std::vector<double> best_weights;
  std::vector<double> last_compute(static_cast<std::size_t>(world), 0.0);
  std::vector<double> last_optimizer(static_cast<std::size_t>(world), 0.0);
  state.partitions = data.map;
  if (hooks.on_partitions) hooks.on_partitions(data.map);
  for (std::int64_t epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    const auto t0 = Clock::now();
    const double ar0 = comm.seconds();
    objective.EpochStarts();
    EpochReport rep = optimizer->RunEpoch(state.model.weights, epoch);
    objective.EpochEnds();
    state.model.epoch = epoch;
    const double epoch_compute_s = Seconds(t0);
    bool last = rep.converged || epoch == o.epochs;
    EpochMetrics m;
    m.epoch = epoch;
    m.objective = rep.objective;
    m.grad_norm = rep.grad_norm;
    m.train_accuracy = kNaN;
    m.test_accuracy = kNaN;
    m.regression = data.spec.regression();
    if (sgd || last || (epoch - first_epoch + 1) % o.eval_every == 0) {
      SetMetrics tr = EvalSet(state.model, data.train, comm);
      const models::EvalSums& sums = tr.sums;
      if (!m.regression) m.train_accuracy = sums.rows > 0 ? sums.correct / sums.rows : kNaN;
      m.train_metrics = std::move(tr.metrics);
      m.train_confusion = sums.confusion;
      if (sgd) m.objective = reg.Value(state.model.weights) + o.c * sums.loss_sum;
      if (data.has_test) {
        SetMetrics t = EvalSet(state.model, data.test, comm);
        if (!m.regression) m.test_accuracy = t.sums.rows > 0 ? t.sums.correct / t.sums.rows : kNaN;
        m.test_metrics = std::move(t.metrics);
        m.test_confusion = t.sums.confusion;
      }
    }
    // The validation set is judged every epoch: early stopping needs every epoch's figure.
    bool stop_early = false;
    if (data.has_validation) {
      SetMetrics vs = EvalSet(state.model, data.validation, comm);
      m.validation_metrics = std::move(vs.metrics);
      m.validation_confusion = vs.sums.confusion;
      if (o.early_stop > 0) {
        const double v = MetricValue(m.validation_metrics, o.choices.early_stop_metric);
        const bool better =
            std::isfinite(v) &&
            (best_epoch == 0 || !std::isfinite(best_value) ||
             (HigherIsBetter(o.choices.early_stop_metric) ? v > best_value : v < best_value));
        if (better || best_epoch == 0) {
          best_value = v;
          best_epoch = epoch;
          best_weights = state.model.weights;
        }
        m.best_epoch = best_epoch;
        stop_early = !rep.converged && epoch - best_epoch >= o.early_stop;
      }
    }
    m.epoch_s = Seconds(t0);
    m.wall_s = Seconds(start);
    m.allreduce_s = comm.seconds() - ar0;
    m.passes = sgd ? 1 : rep.evaluations;
    m.hessian_products = rep.hessian_products;
    m.read_s = data.read_s;
    m.samples_per_s = epoch_compute_s > 0
                          ? static_cast<double>(m.passes) * static_cast<double>(data.global_rows) /
                                epoch_compute_s
                          : 0;
    m.generation = info.generation;
    m.world_size = world;
    m.converged = rep.converged;
    if (stop_early) last = true;
    if (last) m.stop_reason = rep.converged ? "converged" : stop_early ? "early_stop" : "epoch_cap";
    m.partition_generation = data.map.generation;
    // The epoch's compute and optimizer seconds of every rank (they rode in the gradient
    // allreduce): into the map's figures, and, with --balance auto, the move to a balanced map.
    // (A rank's optimizer work after the epoch's last allreduce rides in the next epoch's.)
    const auto& cumulative = objective.ranks_compute_seconds();
    const auto& cumulative_optimizer = objective.ranks_optimizer_seconds();
    std::vector<double> compute(cumulative.size()), optimizer_s(cumulative.size());
    for (std::size_t r = 0; r < compute.size(); ++r) {
      compute[r] = cumulative[r] - last_compute[r];
      optimizer_s[r] = cumulative_optimizer[r] - last_optimizer[r];
      auto& part = data.map.parts[r];
      part.compute_s = compute[r];
      part.rows_per_s = compute[r] > 0 ? static_cast<double>(part.rows) / compute[r] : 0;
    }
    last_compute = cumulative;
    last_optimizer = cumulative_optimizer;
    m.rank_compute_s = compute;
    m.rank_optimizer_s = optimizer_s;
    m.rank_rows = data.rows_per_rank;
    // Every rank holds the same objective and weights, so every rank stops here alike, before
    // the state is checkpointed: no model is written and the last good checkpoint stays.
    const bool finite = std::isfinite(m.objective) &&
                        std::all_of(state.model.weights.begin(), state.model.weights.end(),
                                    [](double w) { return std::isfinite(w); });
    if (!finite) {
      throw DataError("training diverged: the " +
                          std::string(std::isfinite(m.objective) ? "weights are" : "objective is") +
                          " not finite after epoch " + std::to_string(epoch) +
                          "; no model is written (the last checkpoint recorded, if any, stays)",
                      o.data, "scale the features, or lower --lr / --C");
    }
    result.history.push_back(m);
    if (leader) {
      double eta = static_cast<double>(o.epochs - epoch) * m.wall_s /
                   static_cast<double>(epoch - first_epoch + 1);
      log::Info("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs) + " objective " +
                Fmt(m.objective, 10, false) + " " + Headline(m, " ") + " samples/s " +
                Fmt(m.samples_per_s, 3, false) + " allreduce " +
                Fmt(100.0 * m.allreduce_s / std::max(m.epoch_s, 1e-9), 1, true) + "% eta " +
                (rep.converged ? std::string("0s (converged)") : Fmt(eta, 0, true) + "s"));
      if (metrics.is_open()) metrics << m.ToJson() << '\n' << std::flush;
    }
    if (balance && !last && balancer.Observe(compute, optimizer_s, data.rows_per_rank)) {
      PartitionMap next = BalancedMap(data.map, balancer.rows(), data.train, comm, epoch);
      if (hooks.before_move) hooks.before_move(next);
      const auto moving = Clock::now();
      MoveToPart(data.train, data.map, next, comm.rank(), o, data.spec.num_features,
                 data.spec.classes);
      if (leader)
        log::Info("balance: partition " + std::to_string(next.generation) + " after epoch " +
                  std::to_string(epoch) + ": rows per rank [" + RowsText(next) + "] (were [" +
                  RowsText(data.map) + "]); " + next.reason + "; rank 0 moved in " +
                  Fmt(Seconds(moving), 3, true) + " s");
      data.map = std::move(next);
      data.max_local_rows = 0;
      for (std::size_t r = 0; r < data.map.parts.size(); ++r) {
        data.rows_per_rank[r] = data.map.parts[r].rows;
        data.max_local_rows = std::max(data.max_local_rows, data.rows_per_rank[r]);
      }
      if (sgd) {  // same state, steps per epoch of the new largest shard
        auto saved = optimizer->SaveState();
        optimizer = make_optimizer();
        optimizer->RestoreState(saved);
      }
    }
    state.partitions = data.map;
    if (hooks.on_partitions) hooks.on_partitions(data.map);
    if (hooks.after_epoch) {
      if (!hooks.needs_state || hooks.needs_state(epoch)) {
        state.optimizer_state = optimizer->SaveState();
      } else {
        state.optimizer_state.clear();
      }
      hooks.after_epoch(state, m);
    }
    if (rep.converged) {
      result.converged = true;
      break;
    }
    if (stop_early) {
      if (leader)
        log::Info("early stop: validation " + o.choices.early_stop_metric +
                  " has not improved for " + std::to_string(epoch - best_epoch) +
                  " epochs; keeping epoch " + std::to_string(best_epoch) + "'s model (" +
                  o.choices.early_stop_metric + " " + Fmt(best_value, 6, false) + ")");
      break;
    }
  }
  // --early-stop keeps the best epoch's model (whatever stopped the run).
  if (best_epoch > 0 && best_epoch != state.model.epoch) {
    state.model.weights = best_weights;
    state.model.epoch = best_epoch;
  }
  result.best_epoch = best_epoch;
  result.train_s = Seconds(start);
  // The memory bound (issue 11 item 4): the peak resident set so far against the process's
  // baseline before reading plus 1.3 x (the shards' storage + 8 bytes per row + the
  // optimizer's and the model's vectors).
  const models::Dataset* shards[] = {&data.train, &data.test, &data.validation};
  double storage = 0, rows = 0;
  for (const models::Dataset* s : shards) {
    storage += static_cast<double>(s->StorageBytes());
    rows += static_cast<double>(s->rows());
  }
  const double vectors =
      8.0 * static_cast<double>(optimizer->HeldDoubles() + state.model.weights.size());
  result.peak_rss_bytes = PeakRssBytes();
  // The runtime's own allocations after the baseline (the OpenMP pool's stacks, I/O and log
  // buffers: ~1 MiB measured on heart_scale) get a fixed allowance, so a tiny run is not
  // reported above a bound made for the data.
  constexpr double kRuntimeAllowance = 8.0 * 1048576.0;
  result.memory_bound_bytes =
      data.baseline_rss_bytes + kRuntimeAllowance + 1.3 * (storage + 8.0 * rows + vectors);
  if (!result.history.empty()) result.stop_reason = result.history.back().stop_reason;
  if (leader && !result.history.empty()) {
    const auto& m = result.history.back();
    const bool early = result.stop_reason == "early_stop";
    if (early) {
      // Said where it stopped.
    } else if (!result.converged && !sgd) {
      log::Warn("stopped at the epoch cap (--epochs " + std::to_string(o.epochs) + ") before " +
                o.optimizer + " converged (|grad| " + Fmt(m.grad_norm, 4, false) +
                " is above the --tol " + Fmt(o.tol, 4, false) +
                " stopping rule): the model is short of the optimum; raise --epochs");
    } else if (!result.converged) {
      log::Info("sgd ran its --epochs " + std::to_string(o.epochs) +
                " (it has no stopping rule; tron or lbfgs stop at the optimum)");
    }
    log::Info(
        "done: " + std::to_string(m.epoch) + " epochs in " + Fmt(result.train_s, 2, true) + " s" +
        (result.converged ? " (converged)"
         : early ? " (early stop: the model of epoch " + std::to_string(best_epoch) + " is kept)"
                 : " (stopped at the epoch cap, not converged)") +
        ", objective " + Fmt(m.objective, 10, false) + ", " + Headline(m, ", ") + ", allreduce " +
        Fmt(100.0 * comm.seconds() / std::max(result.train_s, 1e-9), 1, true) + "%" +
        (reg.l1 > 0 ? ", " + std::to_string(state.model.nonzero_weights()) + " of " +
                          std::to_string(state.model.weights.size()) + " weights nonzero"
                    : std::string()));
    constexpr double kMiB = 1048576.0;
    log::Info("memory: peak RSS " + Fmt(result.peak_rss_bytes / kMiB, 1, true) + " MiB, bound " +
              Fmt(result.memory_bound_bytes / kMiB, 1, true) + " MiB = baseline " +
              Fmt(data.baseline_rss_bytes / kMiB, 1, true) + " MiB + runtime " +
              Fmt(kRuntimeAllowance / kMiB, 1, true) + " MiB + 1.3 x (shards " +
              Fmt(storage / kMiB, 1, true) + " MiB + 8 B x " + Fmt(rows, 0, true) +
              " rows + optimizer and model vectors " + Fmt(vectors / kMiB, 1, true) + " MiB)" +
              (result.peak_rss_bytes > result.memory_bound_bytes ? " (above the bound)" : ""));
  }
  return result;
}

TrainResult Train(const TrainOptions& options, allreduce::Communicator& comm, const RunInfo& info,
                  const TrainHooks& hooks) {
  const TrainState* start = hooks.start;
  ShardedData data = LoadShardedData(
      options, comm,
      start != nullptr && !start->partitions.parts.empty() ? &start->partitions : nullptr,
      info.generation, start != nullptr ? start->model.epoch : 0, info.partition_floor);
  TrainResult result = TrainOnData(options, data, comm, info, hooks);
  result.read_s = data.read_s;
  if (comm.rank() == 0 && !options.output.empty()) {
    models::SaveModel(result.state.model, options.output);
    log::Info("model written to " + options.output);
  }
  return result;
}

}  // namespace ringtrain::train
