// common/json_fields.h — strict field readers for the JSON payloads (znodes, status).
//
// Only the .cc files of common/ and rendezvous/ use it; it keeps every payload decoder to one
// rule for integers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

namespace ringtrain {

// Integer field `key` of object `j` (absent -> fallback, if given). Fuzz regression:
// get<std::int64_t>() of 1e300 was undefined behaviour and a port of 70000 silently became
// 4464; only JSON integers within T's range pass, anything else throws json::type_error.
template <class T>
T IntField(const nlohmann::json& j, const char* key, std::optional<T> fallback = std::nullopt) {
  if (fallback && j.is_object() && !j.contains(key)) return *fallback;
  const nlohmann::json& v = j.at(key);
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (std::in_range<T>(u)) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (std::in_range<T>(i)) return static_cast<T>(i);
  }
  throw nlohmann::json::type_error::create(
      302, std::string("'") + key + "' must be an integer in range", &v);
}

}  // namespace ringtrain
