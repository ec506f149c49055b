// models/dataset.cc — format names, ReadShard dispatch, and the shard helpers of dataset.h.
#include "models/dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "common/error.h"
#include "models/loss_info.h"
#include "models/readers.h"

namespace ringtrain::models {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string LabelText(double label) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, label);
  return std::string(buf, r.ptr);
}

std::string LabelList(const std::vector<double>& labels, std::size_t at_most) {
  std::string list;
  for (std::size_t i = 0; i < labels.size() && i < at_most; ++i)
    list += (i == 0 ? "" : ", ") + LabelText(labels[i]);
  if (labels.size() > at_most) list += " and " + std::to_string(labels.size() - at_most) + " more";
  return list;
}

std::string UnseenClassesWarning(const std::string& path, const std::vector<double>& unseen,
                                 double rows, double all_rows) {
  const auto n = static_cast<std::int64_t>(rows);
  std::string out = path + ": " + std::to_string(n) +
                    (n == 1 ? " row has a label" : " rows have labels") +
                    " the model never saw (class" + (unseen.size() == 1 ? " " : "es ") +
                    LabelList(unseen, 10) + "); they are evaluated and count as errors";
  if (rows == all_rows)
    out += " (no row is of a class of the model: are --label-column and --format right?)";
  return out;
}

std::string RegressionHint() {
  std::string names;  // the regression models of kModelTable
  for (const ModelInfo& m : kModelTable)
    if (Info(m.default_loss).task == Task::kRegression)
      names += (names.empty() ? "--model " : " or --model ") + std::string(m.name);
  if (names.empty()) {
    // Say so rather than name a --model value that the options would refuse.
    return "this build trains classifiers only (regression, --model svr or --model linreg, is "
           "not in it yet); for classes give integer labels";
  }
  return "for real-valued targets train a regression model (" + names +
         "); for classes give integer labels";
}

void internal::CheckClassLabel(double label, const std::string& path, std::int64_t line_no) {
  if (label == std::trunc(label)) return;
  throw DataError("label " + LabelText(label) +
                      " is not an integer: the labels look continuous (real-valued targets), "
                      "but a classifier needs class labels",
                  path + ":" + std::to_string(line_no), RegressionHint());
}

Format ParseFormat(const std::string& text) {
  if (text == "libsvm") return Format::kLibsvm;
  if (text == "idx") return Format::kIdx;
  if (text == "csv") return Format::kCsv;
  throw UsageError("unknown data format '" + text + "'", "--format", "use libsvm, idx or csv");
}

Format GuessFormat(const std::string& path) {
  std::string p = path;
  if (EndsWith(p, ".gz")) p.resize(p.size() - 3);
  if (EndsWith(p, "-ubyte") || EndsWith(p, ".idx")) return Format::kIdx;
  const std::size_t slash = p.find_last_of('/');
  const std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  if (base.find(".idx") != std::string::npos && EndsWith(base, "ubyte")) return Format::kIdx;
  if (EndsWith(p, ".csv")) return Format::kCsv;
  return Format::kLibsvm;
}

std::size_t Dataset::StorageBytes() const {
  return row_ptr.size() * sizeof(std::int64_t) + col.size() * sizeof(std::int32_t) +
         val.size() * sizeof(float) + dense.size() * sizeof(float) +
         labels.size() * sizeof(double) + class_index.size() * sizeof(std::int32_t) +
         row_offset.size() * sizeof(std::int64_t) + row_weight.size() * sizeof(double);
}

std::int64_t Dataset::nonzeros() const {
  return is_dense() ? rows() * dense_cols : static_cast<std::int64_t>(col.size());
}

std::int64_t Dataset::SourcePosition(std::int64_t i) const {
  if (i >= rows()) return source_end;
  return row_offset.empty() ? source_begin + i : row_offset[static_cast<std::size_t>(i)];
}

Dataset SliceRows(const Dataset& d, std::int64_t from, std::int64_t to) {
  Dataset out;
  const auto f = static_cast<std::size_t>(from), t = static_cast<std::size_t>(to);
  out.first_row = d.first_row + from;
  out.num_features = d.num_features;
  out.source_begin = d.SourcePosition(from);
  out.source_end = d.SourcePosition(to);
  out.source_size = d.source_size;
  out.labels.assign(d.labels.begin() + from, d.labels.begin() + to);
  if (!d.class_index.empty())
    out.class_index.assign(d.class_index.begin() + from, d.class_index.begin() + to);
  if (!d.row_offset.empty())
    out.row_offset.assign(d.row_offset.begin() + from, d.row_offset.begin() + to);
  out.row_ptr.push_back(0);
  if (d.is_dense()) {
    const auto cols = static_cast<std::size_t>(d.dense_cols);
    out.dense_cols = d.dense_cols;
    out.dense.assign(d.dense.begin() + static_cast<std::ptrdiff_t>(f * cols),
                     d.dense.begin() + static_cast<std::ptrdiff_t>(t * cols));
  } else {
    const std::int64_t base = d.row_ptr[f];
    for (std::size_t r = f; r < t; ++r) out.row_ptr.push_back(d.row_ptr[r + 1] - base);
    out.col.assign(d.col.begin() + base, d.col.begin() + d.row_ptr[t]);
    out.val.assign(d.val.begin() + base, d.val.begin() + d.row_ptr[t]);
  }
  return out;
}

void AppendRows(Dataset& head, const Dataset& tail) {
  if (tail.rows() == 0) return;
  if (head.rows() == 0) {
    head = tail;
    return;
  }
  head.labels.insert(head.labels.end(), tail.labels.begin(), tail.labels.end());
  head.class_index.insert(head.class_index.end(), tail.class_index.begin(), tail.class_index.end());
  head.row_offset.insert(head.row_offset.end(), tail.row_offset.begin(), tail.row_offset.end());
  if (head.is_dense()) {
    head.dense.insert(head.dense.end(), tail.dense.begin(), tail.dense.end());
  } else {
    const std::int64_t base = head.row_ptr.back();
    for (std::size_t r = 1; r < tail.row_ptr.size(); ++r)
      head.row_ptr.push_back(base + tail.row_ptr[r]);
    head.col.insert(head.col.end(), tail.col.begin(), tail.col.end());
    head.val.insert(head.val.end(), tail.val.begin(), tail.val.end());
  }
  head.source_end = tail.source_end;
}

Dataset ReadShard(const ReadOptions& options) {
  if (options.range_begin < 0 &&
      (options.num_shards < 1 || options.shard < 0 || options.shard >= options.num_shards)) {
    throw UsageError("shard " + std::to_string(options.shard) + " of " +
                         std::to_string(options.num_shards) + " is out of range",
                     options.path, "0 <= shard < num_shards");
  }
  switch (options.format) {
    case Format::kLibsvm:
      return internal::ReadLibsvmShard(options);
    case Format::kCsv:
      return internal::ReadCsvShard(options);
    case Format::kIdx:
      return internal::ReadIdxShard(options);
  }
  throw UsageError("unknown data format", options.path, "use libsvm, idx or csv");
}

std::vector<double> DistinctLabels(const Dataset& data) {
  std::vector<double> labels = data.labels;
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

void SetNumFeatures(Dataset& data, std::int64_t n) {
  if (n < data.num_features) {
    throw UsageError("cannot shrink the feature count from " + std::to_string(data.num_features) +
                         " to " + std::to_string(n),
                     "SetNumFeatures", "pass the maximum over all shards");
  }
  if (data.is_dense() && n > data.dense_cols) {
    const std::int64_t old_cols = data.dense_cols;
    const std::int64_t rows = data.rows();
    std::vector<float> wide(static_cast<std::size_t>(rows * n), 0.0f);
    for (std::int64_t r = 0; r < rows; ++r) {
      std::copy_n(data.dense.begin() + r * old_cols, old_cols, wide.begin() + r * n);
    }
    data.dense = std::move(wide);
    data.dense_cols = n;
  }
  data.num_features = n;
}

std::vector<double> AssignClasses(Dataset& data, std::span<const double> classes) {
  std::vector<double> unseen;
  data.class_index.resize(data.labels.size());
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    const double y = data.labels[i];
    auto it = std::lower_bound(classes.begin(), classes.end(), y);
    if (it == classes.end() || *it != y) {
      data.class_index[i] = kUnseenClass;
      unseen.push_back(y);
      continue;
    }
    data.class_index[i] = static_cast<std::int32_t>(it - classes.begin());
  }
  std::sort(unseen.begin(), unseen.end());
  unseen.erase(std::unique(unseen.begin(), unseen.end()), unseen.end());
  return unseen;
}

}  // namespace ringtrain::models
