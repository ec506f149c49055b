// models/dataset.cc — format names, ReadShard dispatch, and the shard helpers of dataset.h.
#include "models/dataset.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "common/error.h"
#include "models/readers.h"

namespace ringtrain::models {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string LabelText(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

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
         labels.size() * sizeof(double) + class_index.size() * sizeof(std::int32_t);
}

Dataset ReadShard(const ReadOptions& options) {
  if (options.num_shards < 1 || options.shard < 0 || options.shard >= options.num_shards) {
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

void AssignClasses(Dataset& data, std::span<const double> classes, const std::string& where) {
  data.class_index.resize(data.labels.size());
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    const double y = data.labels[i];
    auto it = std::lower_bound(classes.begin(), classes.end(), y);
    if (it == classes.end() || *it != y) {
      std::string list;
      for (double c : classes) list += (list.empty() ? "" : " ") + LabelText(c);
      throw DataError("label " + LabelText(y) + " (row " +
                          std::to_string(data.first_row + static_cast<std::int64_t>(i)) +
                          ") is not one of the model's classes [" + list + "]",
                      where, "predict/evaluate with data of the classes the model was trained on");
    }
    data.class_index[i] = static_cast<std::int32_t>(it - classes.begin());
  }
}

}  // namespace ringtrain::models
