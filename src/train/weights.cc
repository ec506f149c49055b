// train/weights.cc — AssignRowWeights (train/weights.h).
#include "train/weights.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/log.h"

namespace ringtrain::train {
namespace {

// Lines [first, first + count) of the instance weights file; every line is checked so a bad
// line anywhere is reported by every rank the same way.
std::vector<double> ReadInstanceWeights(const std::string& path, std::int64_t first,
                                        std::int64_t count, std::int64_t global_rows) {
  std::ifstream in(path);
  if (!in) throw DataError("cannot open the weights file", path, "check the --weights path");
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(count));
  std::string line;
  std::int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    double w = 0;
    const char* b = line.data();
    const char* e = b + line.size();
    const auto r = std::from_chars(b, e, w);
    const std::string where = path + ":" + std::to_string(n);
    if (line.empty() || r.ec != std::errc() || r.ptr != e || !std::isfinite(w))
      throw DataError("unparsable instance weight '" + line + "'", where,
                      "one number >= 0 per line, one line per data row");
    if (w < 0) throw DataError("negative instance weight " + line, where, "weights must be >= 0");
    if (n - 1 >= first && n - 1 < first + count) out.push_back(w);
  }
  if (n != global_rows)
    throw DataError("the weights file has " + std::to_string(n) + " lines for " +
                        std::to_string(global_rows) + " data rows",
                    path, "give one weight per data row, in row order");
  return out;
}

}  // namespace

void AssignRowWeights(const TrainOptions& o, ShardedData& data, allreduce::Communicator& comm) {
  const Choices& ch = o.choices;
  models::Dataset& d = data.train;
  // A CSV --weight-column was read with the rows (the reader checked every value).
  const bool column = !o.weight_column.empty();
  if (o.weights.empty() && !column && !ch.balanced && ch.class_weights.empty()) return;
  const auto rows = static_cast<std::size_t>(d.rows());
  std::vector<double> w(rows, 1.0);
  if (column) w = d.row_weight;
  if (!o.weights.empty())
    w = ReadInstanceWeights(o.weights, d.first_row, d.rows(), data.global_rows);
  if (ch.balanced || !ch.class_weights.empty()) {
    const std::vector<double>& classes = data.spec.classes;
    std::vector<double> per_class(classes.size(), 1.0);
    if (ch.balanced) {
      std::vector<double> counts(classes.size(), 0.0);
      for (auto c : d.class_index) counts[static_cast<std::size_t>(c)] += 1.0;
      comm.AllreduceSum(std::span<double>(counts));
      const double n = static_cast<double>(data.global_rows);
      for (std::size_t c = 0; c < classes.size(); ++c)
        per_class[c] = counts[c] > 0 ? n / (static_cast<double>(classes.size()) * counts[c]) : 1;
    }
    for (const auto& [label, weight] : ch.class_weights) {
      bool found = false;
      for (std::size_t c = 0; c < classes.size(); ++c) {
        if (classes[c] == label) {
          per_class[c] = weight;
          found = true;
        }
      }
      if (!found && comm.rank() == 0) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.17g", label);
        log::Warn(std::string("--class-weight names label ") + buf + ", which is not a class of " +
                  o.data + "; it has no effect");
      }
    }
    if (data.spec.multiclass == models::Multiclass::kOvr && classes.size() > 2) {
      // liblinear's -wi for one-vs-rest: the weight of class c scales the positives of c's
      // subproblem only (the kernels apply it to output c of the rows of class c).
      d.own_class_weight = per_class;
    } else {
      for (std::size_t r = 0; r < rows; ++r)
        w[r] *= per_class[static_cast<std::size_t>(d.class_index[r])];
    }
  }
  d.row_weight = std::move(w);
}

}  // namespace ringtrain::train
