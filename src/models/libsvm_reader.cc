// models/libsvm_reader.cc — LIBSVM text: "<label> <index>:<value> ... [# comment]".
//
// Rules (docs/formats.md): indices 1-based, strictly ascending within a line; values and
// labels finite doubles (from_chars; a leading '+' allowed); "qid:<n>" tokens ignored;
// '#' starts a comment; blank and comment-only lines are skipped. Stored as CSR, 0-based
// columns, float values.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/error.h"
#include "models/readers.h"
#include "models/text_file.h"

namespace ringtrain::models::internal {
namespace {

[[noreturn]] void Fail(const std::string& path, std::int64_t line_no, const std::string& what,
                       std::string_view text, const std::string& hint) {
  throw DataError(what + " '" + std::string(text) + "'", path + ":" + std::to_string(line_no),
                  hint);
}

constexpr const char* kHint =
    "LIBSVM lines are '<label> <index>:<value> ...' with 1-based ascending indices";

// Parses one line into `data`; returns false for blank/comment lines.
bool ParseLine(std::string_view line, std::int64_t line_no, const ReadOptions& options,
               Dataset& data, std::int64_t& max_index) {
  const std::string& path = options.path;
  std::size_t hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);
  std::size_t i = 0;
  const std::size_t n = line.size();
  auto next_token = [&]() -> std::string_view {
    while (i < n && IsBlank(line[i])) ++i;
    std::size_t start = i;
    while (i < n && !IsBlank(line[i])) ++i;
    return line.substr(start, i - start);
  };
  std::string_view label_text = next_token();
  if (label_text.empty()) return false;
  double label = 0;
  if (!ParseDouble(label_text, label) || !std::isfinite(label)) {
    Fail(path, line_no, "unparsable label", label_text, kHint);
  }
  if (options.class_labels) CheckClassLabel(label, path, line_no);
  std::int64_t prev = 0;
  for (std::string_view tok = next_token(); !tok.empty(); tok = next_token()) {
    std::size_t colon = tok.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == tok.size()) {
      Fail(path, line_no, "malformed token (expected index:value)", tok, kHint);
    }
    std::string_view idx_text = tok.substr(0, colon);
    std::string_view val_text = tok.substr(colon + 1);
    if (idx_text == "qid") continue;
    std::int64_t index = 0;
    if (!ParseInt64(idx_text, index)) {
      Fail(path, line_no, "malformed feature index", tok, kHint);
    }
    if (index <= 0) Fail(path, line_no, "feature index must be >= 1", tok, kHint);
    if (index > std::numeric_limits<std::int32_t>::max()) {
      Fail(path, line_no, "feature index too large (max 2^31-1)", tok, kHint);
    }
    if (index == prev) Fail(path, line_no, "repeated feature index", tok, kHint);
    if (index < prev) Fail(path, line_no, "descending feature index", tok, kHint);
    double value = 0;
    if (!ParseDouble(val_text, value)) Fail(path, line_no, "malformed value", tok, kHint);
    if (!std::isfinite(value)) {
      Fail(path, line_no, "non-finite value", tok, "remove or impute NaN/inf values");
    }
    float fv = static_cast<float>(value);
    if (!std::isfinite(fv)) {
      Fail(path, line_no, "value out of float range", tok, "rescale the feature");
    }
    prev = index;
    data.col.push_back(static_cast<std::int32_t>(index - 1));
    data.val.push_back(fv);
  }
  if (prev > max_index) {
    max_index = prev;
    data.widest_line = line_no;
  }
  if (data.labels.empty()) data.first_line = line_no;
  data.labels.push_back(label);
  data.row_ptr.push_back(static_cast<std::int64_t>(data.col.size()));
  return true;
}

}  // namespace

Dataset ReadLibsvmShard(const ReadOptions& options) {
  TextFile file(options.path);
  if (file.size() == 0) {
    throw DataError("empty data file: no rows", options.path, "give a non-empty LIBSVM file");
  }
  const auto [begin, end] = ShardByteRange(file, options);
  TextFile::Prefix prefix = file.CountPrefix(begin);

  Dataset data;
  data.first_row = prefix.data_lines;
  data.source_begin = begin;
  data.source_end = end;
  data.source_size = file.size();
  // Sized once from a count of the range's ':' (one per entry; qid tokens and colons in
  // comments only over-count) and '\n' (one per line, plus a last line without one): no
  // growth, so the peak is the final CSR, not the 1.5x of a growing vector's copy.
  const auto [colons, newlines] = file.CountChars(begin, end, ':', '\n');
  const auto lines = static_cast<std::size_t>(newlines + 1);
  data.col.reserve(static_cast<std::size_t>(colons));
  data.val.reserve(static_cast<std::size_t>(colons));
  data.row_ptr.reserve(lines + 1);
  data.labels.reserve(lines);
  data.row_offset.reserve(lines);
  data.row_ptr.push_back(0);
  std::int64_t max_index = 0;
  file.ForEachLine(begin, end, prefix.lines + 1,
                   [&](std::string_view line, std::int64_t no, std::int64_t offset) {
                     if (ParseLine(line, no, options, data, max_index))
                       data.row_offset.push_back(offset);
                   });
  // Give back a reserve the count overestimated by more than 1/32 (qid-heavy files, comments
  // with colons, blank lines): the copy is transient and only then.
  auto trim = [](auto& v) {
    if (v.capacity() - v.size() > v.capacity() / 32) v.shrink_to_fit();
  };
  trim(data.col);
  trim(data.val);
  trim(data.row_ptr);
  trim(data.labels);
  trim(data.row_offset);
  data.num_features = max_index;
  if (end == file.size() && data.first_row + data.rows() == 0) {
    throw DataError("no rows in data file (only blank or comment lines)", options.path,
                    "give a LIBSVM file with at least one row");
  }
  return data;
}

}  // namespace ringtrain::models::internal
