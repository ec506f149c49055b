// train/options.cc — validation, canonical text, hash and differing keys of TrainOptions.
#include "train/options.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <type_traits>
#include <vector>

#include "common/checksum.h"
#include "common/error.h"

namespace ringtrain::train {
namespace {

[[noreturn]] void Bad(const std::string& option, const std::string& what,
                      const std::string& hint = {}) {
  throw UsageError(
      "--" + option + " " + what, "ringtrain train",
      hint.empty() ? "fix --" + option + " (`ringtrain train --help` lists the values)" : hint);
}

// An output file's directory must exist and be writable before training starts, not after.
void CheckWritableParent(const char* option, const std::string& path) {
  if (path.empty()) return;
  std::filesystem::path p(path);
  std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!p.has_filename() || std::filesystem::is_directory(p, ec))
    Bad(option, "'" + path + "' is a directory, not a file",
        "give a file path, e.g. " +
            (p / (std::string(option) == "metrics" ? "metrics.jsonl" : "model.bin"))
                .lexically_normal()
                .string());
  if (!std::filesystem::is_directory(dir, ec))
    Bad(option, "names a file in '" + dir.string() + "', which is not a directory",
        "create the directory first or choose another path");
  if (::access(dir.c_str(), W_OK) != 0)
    Bad(option, "names a file in '" + dir.string() + "', which is not writable",
        "choose a writable directory");
}

template <class T>
std::string ValueText(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (std::is_floating_point_v<T>) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
    return std::string(buf, r.ptr);
  } else {
    return std::to_string(v);
  }
}

std::map<std::string, std::string> ParseCanonical(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    out[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

}  // namespace

std::size_t AllreduceSegmentBytes(const TrainOptions& o) {
  const std::string& v = o.allreduce_segment;
  if (v == "auto") return 0;
  std::size_t bytes = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), bytes);
  if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || bytes < 8 ||
      bytes > (std::size_t{1} << 30)) {
    Bad("allreduce-segment", "must be auto or a byte count from 8 to 1073741824, got '" + v + "'");
  }
  return bytes;
}

void FinalizeAndValidate(TrainOptions& o) {
  if (o.data.empty()) Bad("data", "is required", "give the training data file");
  if (!OneOf(o.format, {"", "libsvm", "idx", "csv"}))
    Bad("format", "must be libsvm|idx|csv, got '" + o.format + "'");
  if (o.format == "idx" && o.labels.empty())
    Bad("labels", "is required with --format idx", "give the IDX labels file");
  if (!o.test_labels.empty() && o.test_data.empty()) Bad("test-labels", "needs --test-data");
  if (!o.validation_labels.empty() && o.validation_data.empty())
    Bad("validation-labels", "needs --validation-data");
  if (o.early_stop < 0) Bad("early-stop", "must be >= 0, got " + ValueText(o.early_stop));
  if (o.early_stop > 0 && o.validation_data.empty())
    Bad("early-stop", "needs --validation-data", "give the held-out data to judge epochs by");
  Choices& ch = o.choices;
  bool known = false;
  for (const models::ModelInfo& m : models::kModelTable)
    if (o.model == m.name) ch.model = m.kind, known = true;
  if (!known) Bad("model", "must be " + models::ModelNames() + ", got '" + o.model + "'");
  if (o.loss.empty()) o.loss = std::string(models::Info(models::Info(ch.model).default_loss).name);
  known = false;
  for (const models::LossInfo& l : models::kLossTable)
    if (o.loss == l.name) ch.loss = l.loss, known = true;
  if (!known) Bad("loss", "must be " + models::LossNames() + ", got '" + o.loss + "'");
  const models::LossInfo& loss = models::Info(ch.loss);
  if (loss.model != ch.model) {
    Bad("loss", "'" + o.loss + "' does not go with --model " + o.model,
        "use --model " + models::ToString(loss.model) + ", or a --loss of " +
            models::LossNames(ch.model));
  }
  if (!OneOf(o.multiclass, {"ovr", "multinomial"}))
    Bad("multiclass", "must be ovr|multinomial, got '" + o.multiclass + "'");
  ch.multiclass = models::ParseMulticlass(o.multiclass);
  if (ch.multiclass == models::Multiclass::kMultinomial && !loss.multinomial)
    Bad("multiclass", "multinomial needs --model lr (logistic loss)", "use --multiclass ovr");
  // Non-finite or absurd numbers are refused here, not found as a NaN objective later.
  if (!(o.c > 0 && o.c <= 1e12)) Bad("C", "must be a number in (0, 1e12], got " + ValueText(o.c));
  if (!OneOf(o.penalty, {"l2", "l1", "elastic"}))
    Bad("penalty", "must be l2|l1|elastic, got '" + o.penalty + "'");
  ch.penalty = models::ParsePenalty(o.penalty);
  if (ch.penalty == models::Penalty::kElastic && !(o.l1_ratio > 0 && o.l1_ratio < 1))
    Bad("l1-ratio", "must be in (0, 1) with --penalty elastic, got " + ValueText(o.l1_ratio),
        "use --penalty l1 for r = 1 and --penalty l2 for r = 0");
  if (ch.penalty != models::Penalty::kElastic && o.l1_ratio != 0.5)
    Bad("l1-ratio", "applies to --penalty elastic only (--penalty is " + o.penalty + ")",
        "add --penalty elastic or drop --l1-ratio");
  if (ch.penalty != models::Penalty::kL2) {
    if (!loss.smooth)
      Bad("penalty",
          o.penalty + " trains by OWL-QN, which needs a smooth loss; " + o.loss +
              " is not differentiable",
          "use --loss " + std::string(models::Info(models::Info(ch.model).default_loss).name) +
              " or --penalty l2");
    if (!o.optimizer.empty() && o.optimizer != "lbfgs")
      Bad("optimizer",
          o.optimizer + " cannot train --penalty " + o.penalty + " (|w|_1 is not differentiable)",
          "use --optimizer lbfgs (OWL-QN), or leave --optimizer out");
    o.optimizer = "lbfgs";
  }
  // The method that reaches liblinear's optimum fastest for the loss: tron where the loss has a
  // Hessian, lbfgs for other smooth losses, sgd for the non-differentiable ones (the hinge).
  if (o.optimizer.empty()) o.optimizer = !loss.smooth ? "sgd" : loss.has_hessian ? "tron" : "lbfgs";
  ch.balanced = o.class_weight == "balanced";
  ch.class_weights.clear();
  if (!o.class_weight.empty() && !ch.balanced) {
    if (models::IsRegression(ch.loss))
      Bad("class-weight", "is for classifiers; --model " + o.model + " has no classes");
    std::size_t at = 0;
    while (at <= o.class_weight.size()) {
      const std::size_t end = std::min(o.class_weight.find(',', at), o.class_weight.size());
      const std::string item = o.class_weight.substr(at, end - at);
      const std::size_t colon = item.find(':');
      double label = 0, weight = 0;
      const char* b = item.data();
      const bool ok =
          colon != std::string::npos && std::from_chars(b, b + colon, label).ptr == b + colon &&
          std::from_chars(b + colon + 1, b + item.size(), weight).ptr == b + item.size() &&
          std::isfinite(label) && std::isfinite(weight);
      if (!ok)
        Bad("class-weight", "item '" + item + "' is not LABEL:WEIGHT",
            "write e.g. --class-weight 1:2,-1:0.5 or --class-weight balanced");
      if (!(weight >= 0))
        Bad("class-weight",
            "weight of label " + ValueText(label) + " must be >= 0, got " + ValueText(weight));
      ch.class_weights.emplace_back(label, weight);
      at = end + 1;
    }
  }
  {
    const bool regression = models::IsRegression(ch.loss);
    // The field keeps what was given ("" = the loss's metric), so the text stays idempotent
    // under a change of --model; the resolved name is a choice.
    const std::string& metric =
        o.early_stop_metric.empty() ? std::string(loss.default_metric) : o.early_stop_metric;
    ch.early_stop_metric = metric;
    const bool known_metric =
        regression ? OneOf(metric, {"mse", "mae", "r2"})
                   : OneOf(metric, {"accuracy", "log_loss", "macro_f1", "auc", "pr_auc"});
    if (!known_metric)
      Bad("early-stop-metric", "'" + metric + "' is not a metric of --model " + o.model,
          regression ? "use mse, mae or r2" : "use accuracy, log_loss, macro_f1, auc or pr_auc");
    if (metric == "log_loss" && !loss.probabilistic)
      Bad("early-stop-metric", "log_loss needs --model lr (probabilities)",
          "use accuracy, macro_f1, auc or pr_auc");
  }
  if (!o.weights.empty() && !o.weight_column.empty())
    Bad("weights", "and --weight-column both give instance weights", "give only one of them");
  if (!(o.epsilon >= 0) || !std::isfinite(o.epsilon))
    Bad("epsilon", "must be >= 0, got " + ValueText(o.epsilon));
  if (o.optimizer == "lbfgs") {
    ch.optimizer = OptimizerKind::kLbfgs;
  } else if (o.optimizer == "tron") {
    ch.optimizer = OptimizerKind::kTron;
  } else if (o.optimizer == "sgd") {
    ch.optimizer = OptimizerKind::kSgd;
  } else {
    Bad("optimizer", "must be lbfgs|tron|sgd, got '" + o.optimizer + "'");
  }
  if (ch.optimizer != OptimizerKind::kSgd && !loss.smooth)
    Bad("optimizer", o.optimizer + " needs a smooth loss; " + o.loss + " is not differentiable",
        "use --optimizer sgd or another --loss");
  if (ch.optimizer == OptimizerKind::kTron && !loss.has_hessian)
    Bad("optimizer", "tron needs a loss with a Hessian; " + o.loss + " has none",
        "use --optimizer lbfgs");
  if (o.batch_size < 1) Bad("batch-size", "must be >= 1, got " + ValueText(o.batch_size));
  if (!(o.lr > 0 && o.lr <= 1e6)) Bad("lr", "must be a number in (0, 1e6], got " + ValueText(o.lr));
  if (!(o.lr_decay >= 0 && o.lr_decay <= 1e6))
    Bad("lr-decay", "must be a number in [0, 1e6], got " + ValueText(o.lr_decay));
  if (!(o.momentum >= 0 && o.momentum < 1))
    Bad("momentum", "must be in [0, 1), got " + ValueText(o.momentum));
  if (!(o.tol > 0 && o.tol <= 1e6))
    Bad("tol", "must be a number in (0, 1e6], got " + ValueText(o.tol));
  if (o.lbfgs_memory < 1) Bad("lbfgs-memory", "must be >= 1, got " + ValueText(o.lbfgs_memory));
  if (!OneOf(o.balance, {"auto", "off"}))
    Bad("balance", "must be auto|off, got '" + o.balance + "'");
  if (!(o.balance_threshold > 0 && o.balance_threshold < 1e6))
    Bad("balance-threshold", "must be > 0, got " + ValueText(o.balance_threshold));
  if (o.epochs < 1) Bad("epochs", "must be >= 1, got " + ValueText(o.epochs));
  if (o.eval_every < 1) Bad("eval-every", "must be >= 1, got " + ValueText(o.eval_every));
  if (o.ranks < 1) Bad("ranks", "must be >= 1, got " + ValueText(o.ranks));
  if ((o.min_ranks > 0) != (o.max_ranks > 0))
    Bad(o.min_ranks > 0 ? "max-ranks" : "min-ranks", "must be given with the other one",
        "give both --min-ranks and --max-ranks");
  if (o.min_ranks < 0 || o.max_ranks < 0) Bad("min-ranks", "must be >= 1");
  if (o.min_ranks > o.max_ranks)
    Bad("min-ranks", ValueText(o.min_ranks) + " is above --max-ranks " + ValueText(o.max_ranks));
  if (!OneOf(o.transport, {"", "tcp", "mpi"}))
    Bad("transport", "must be tcp|mpi, got '" + o.transport + "'");
  if (!OneOf(o.shm, {"auto", "off"})) Bad("shm", "must be auto|off, got '" + o.shm + "'");
  AllreduceSegmentBytes(o);  // throws the usage error
  if (!o.zk_auth.empty() && !o.zk_auth_file.empty())
    Bad("zk-auth", "and --zk-auth-file exclude each other", "give only one of them");
  if (o.resume && o.resume_from >= 0)
    Bad("resume", "and --resume-from exclude each other", "give only one of them");
  if (o.checkpoint_every < 0)
    Bad("checkpoint-every", "must be >= 0, got " + ValueText(o.checkpoint_every));
  if (o.checkpoint_every > 0 && o.checkpoint_dir.empty())
    Bad("checkpoint-dir", "is required with --checkpoint-every");
  if (o.keep < 1) Bad("keep", "must be >= 1, got " + ValueText(o.keep));
  if (o.threads < 0) Bad("threads", "must be >= 0, got " + ValueText(o.threads));
  if (o.max_model_bytes < 0)
    Bad("max-model-bytes",
        "must be >= 0 (0 = half the physical memory), got " + ValueText(o.max_model_bytes));
  if (!(o.timeout > 0 && o.timeout <= 1e7))
    Bad("timeout", "must be a number of seconds in (0, 1e7], got " + ValueText(o.timeout));
  bool distributed = o.ranks > 1 || o.max_ranks > 1 || o.zk_given || o.transport == "mpi";
  if (distributed && o.job.empty())
    Bad("job", "is required for a distributed run", "name the job, e.g. --job exp42");
  CheckWritableParent("output", o.output);
  CheckWritableParent("metrics", o.metrics);
}

models::ReadOptions ReaderOptions(const std::string& path, const std::string& labels,
                                  const std::string& format, int label_column,
                                  const std::string& weight_column, const char* labels_option) {
  models::ReadOptions ro;
  ro.path = path;
  ro.labels_path = labels;
  ro.format = format.empty() ? models::GuessFormat(path) : models::ParseFormat(format);
  ro.label_column = label_column;
  if (!weight_column.empty()) {
    int col = 0;
    const char* b = weight_column.data();
    const char* e = b + weight_column.size();
    if (std::from_chars(b, e, col).ptr != e || col <= models::ReadOptions::kNoColumn)
      throw UsageError("--weight-column must be a column number, got '" + weight_column + "'", path,
                       "give the 0-based column of the weights, or -1 for the last");
    ro.weight_column = col;
  }
  if (!weight_column.empty() && ro.format != models::Format::kCsv)
    throw UsageError("--weight-column is for CSV data", path,
                     "give the instance weights of LIBSVM or IDX data as --weights FILE");
  if (ro.format == models::Format::kIdx && labels.empty())
    throw UsageError("IDX data needs its labels file", path,
                     std::string("give ") + labels_option + " (the *-labels-idx1-ubyte file)");
  return ro;
}

namespace {
std::string Lines(const TrainOptions& options, bool agreed_too) {
  std::string out;
  VisitTrainFields(options, [&](const char* name, const auto& value, const char*, Scope scope) {
    if (scope == Scope::kRun || (scope == Scope::kAgreed && !agreed_too)) return;
    out += name;
    out += " = ";
    out += ValueText(value);
    out += '\n';
  });
  return out;
}
}  // namespace

std::string CanonicalText(const TrainOptions& options) { return Lines(options, false); }
std::string AgreedText(const TrainOptions& options) { return Lines(options, true); }

std::string OptionsHash(const TrainOptions& options) {
  return Hex64(Fnv1a64(CanonicalText(options)));
}

std::string DifferingKeys(const std::string& ours, const std::string& theirs,
                          const std::string& their_name) {
  auto a = ParseCanonical(ours);
  auto b = ParseCanonical(theirs);
  std::vector<std::string> keys;
  for (const auto& [k, v] : a) keys.push_back(k);
  for (const auto& [k, v] : b)
    if (!a.count(k)) keys.push_back(k);
  std::string out;
  for (const auto& k : keys) {
    auto ia = a.find(k);
    auto ib = b.find(k);
    std::string va = ia == a.end() ? "<unset>" : ia->second;
    std::string vb = ib == b.end() ? "<unset>" : ib->second;
    if (va == vb) continue;
    if (!out.empty()) out += "; ";
    out += k + " ('" + va + "' here, '" + vb + "' in " + their_name + ")";
  }
  return out;
}

}  // namespace ringtrain::train
