// models/readers.h — internal: the three shard readers behind ReadShard, and the number
// parsing they share. Not part of the box's public interface.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "models/dataset.h"

namespace ringtrain::models::internal {

Dataset ReadLibsvmShard(const ReadOptions& options);
Dataset ReadCsvShard(const ReadOptions& options);
Dataset ReadIdxShard(const ReadOptions& options);

// Parses the whole of `text` as a double (a leading '+' is allowed, unlike from_chars).
// Returns false if anything is left over or nothing parses.
inline bool ParseDouble(std::string_view text, double& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

inline bool ParseInt64(std::string_view text, std::int64_t& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// ReadOptions::class_labels: a label that is not an integer is a DataError naming
// path:line_no ("the labels look continuous").
void CheckClassLabel(double label, const std::string& path, std::int64_t line_no);

}  // namespace ringtrain::models::internal
