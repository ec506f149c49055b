// models/csv_reader.cc — CSV: comma-separated numbers, one row per line, one label column.
//
// Rules (docs/formats.md): the field count is fixed by the file's first line; the first
// line is a header iff one of its fields is not a number; the label column is
// ReadOptions::label_column (0-based, -1 = last); blank lines and lines starting with '#'
// are skipped; fields may be padded with spaces; every field must be a finite number.
// ReadOptions::weight_column, when given, is a column of instance weights (>= 0) that is
// neither the label nor a feature (Dataset::row_weight).
// Stored dense (dense_cols = fields - 1), feature order = column order without the label.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "models/readers.h"
#include "models/text_file.h"

namespace ringtrain::models::internal {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on ','; fields are trimmed.
void Split(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t start = 0;
  while (true) {
    std::size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(Trim(line.substr(start)));
      return;
    }
    out.push_back(Trim(line.substr(start, comma - start)));
    start = comma + 1;
  }
}

bool IsSkipped(std::string_view line) {
  line = Trim(line);
  return line.empty() || line.front() == '#';
}

}  // namespace

Dataset ReadCsvShard(const ReadOptions& options) {
  TextFile file(options.path);
  const std::string& path = options.path;
  if (file.size() == 0) throw DataError("empty data file: no rows", path, "give a non-empty CSV");
  std::vector<std::string_view> fields;
  const std::string first = file.FirstLine();
  Split(first, fields);
  bool header = false;
  for (std::string_view f : fields) {
    double v = 0;
    if (!ParseDouble(f, v)) header = true;
  }
  // Found by fuzzing: a blank or comment first line fixed the field count at 1 and gave a
  // shard with labels but no feature storage (neither dense nor CSR).
  if (IsSkipped(first)) {
    throw DataError("the first line is blank or a comment, but it must fix the field count",
                    path + ":1", "start the CSV with a header or a data row");
  }
  const std::size_t num_fields = fields.size();
  if (num_fields < 2) {
    throw DataError("CSV needs a label and at least one feature column, found 1 field", path + ":1",
                    "separate fields with ','");
  }
  std::int64_t label_col = options.label_column;
  if (label_col < 0) label_col += static_cast<std::int64_t>(num_fields);
  if (label_col < 0 || label_col >= static_cast<std::int64_t>(num_fields)) {
    throw UsageError(
        "label column " + std::to_string(options.label_column) + " is outside the " +
            std::to_string(num_fields) + " CSV fields",
        path + ":1",
        "use --label-column 0.." + std::to_string(num_fields - 1) + " or -1 for the last");
  }

  std::int64_t weight_col = options.weight_column;
  const bool weighted = weight_col != ReadOptions::kNoColumn;
  if (weighted) {
    if (weight_col < 0) weight_col += static_cast<std::int64_t>(num_fields);
    if (weight_col < 0 || weight_col >= static_cast<std::int64_t>(num_fields) ||
        weight_col == label_col || num_fields < 3) {
      throw UsageError("weight column " + std::to_string(options.weight_column) +
                           (weight_col == label_col
                                ? " is the label column"
                                : " is outside the " + std::to_string(num_fields) + " CSV fields") +
                           " (a weighted CSV needs a label, a weight and a feature column)",
                       path + ":1",
                       "use a --weight-column other than --label-column, 0.." +
                           std::to_string(num_fields - 1) + " or -1 for the last");
    }
  }

  const auto [begin, end] = ShardByteRange(file, options);
  TextFile::Prefix prefix = file.CountPrefix(begin);

  Dataset data;
  data.first_row = prefix.data_lines - ((header && begin > 0) ? 1 : 0);
  data.source_begin = begin;
  data.source_end = end;
  data.source_size = file.size();
  data.num_features = static_cast<std::int64_t>(num_fields) - (weighted ? 2 : 1);
  data.dense_cols = data.num_features;
  data.row_ptr.push_back(0);
  file.ForEachLine(
      begin, end, prefix.lines + 1,
      [&](std::string_view line, std::int64_t no, std::int64_t offset) {
        if (IsSkipped(line)) return;
        if (header && no == 1) return;
        data.row_offset.push_back(offset);
        Split(line, fields);
        if (fields.size() != num_fields) {
          throw DataError("expected " + std::to_string(num_fields) + " fields, found " +
                              std::to_string(fields.size()) + " in '" + std::string(line) + "'",
                          path + ":" + std::to_string(no), "every CSV row needs the same fields");
        }
        for (std::size_t c = 0; c < num_fields; ++c) {
          double v = 0;
          if (!ParseDouble(fields[c], v)) {
            throw DataError(
                std::string(static_cast<std::int64_t>(c) == label_col ? "unparsable label"
                                                                      : "malformed value") +
                    " '" + std::string(fields[c]) + "' in field " + std::to_string(c + 1),
                path + ":" + std::to_string(no), "CSV fields must be numbers");
          }
          if (!std::isfinite(v) || !std::isfinite(static_cast<float>(v))) {
            throw DataError("non-finite value '" + std::string(fields[c]) + "' in field " +
                                std::to_string(c + 1),
                            path + ":" + std::to_string(no), "remove or impute NaN/inf values");
          }
          if (weighted && static_cast<std::int64_t>(c) == weight_col) {
            if (v < 0) {
              throw DataError("negative instance weight '" + std::string(fields[c]) +
                                  "' in field " + std::to_string(c + 1),
                              path + ":" + std::to_string(no), "weights must be >= 0");
            }
            data.row_weight.push_back(v);
          } else if (static_cast<std::int64_t>(c) == label_col) {
            if (options.class_labels) CheckClassLabel(v, path, no);
            if (data.labels.empty()) data.first_line = no;
            data.labels.push_back(v);
          } else {
            data.dense.push_back(static_cast<float>(v));
          }
        }
      });
  data.dense.shrink_to_fit();
  if (end == file.size() && data.first_row + data.rows() == 0) {
    throw DataError("no rows in data file (only a header, blank or comment lines)", path,
                    "give a CSV with at least one row");
  }
  return data;
}

}  // namespace ringtrain::models::internal
