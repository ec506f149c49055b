#include "common/ring.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/error.h"

namespace ringtrain {
namespace {

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

}  // namespace

std::string Ring::Describe(int r) const {
  if (r < 0 || r >= world_size()) return "rank " + std::to_string(r);
  const Member& m = members[static_cast<std::size_t>(r)];
  return "rank " + std::to_string(r) + " (" + m.host + ":" + std::to_string(m.port) + ")";
}

std::string MemberToJson(const Member& m) {
  nlohmann::json j = {{"host", m.host}, {"port", m.port}, {"mpi_rank", m.mpi_rank},
                      {"pid", m.pid},   {"uuid", m.uuid}};
  return j.dump();
}

Member MemberFromJson(const std::string& text, const std::string& where) {
  try {
    auto j = nlohmann::json::parse(text);
    Member m;
    m.host = j.at("host").get<std::string>();
    m.port = IntField<std::uint16_t>(j, "port");
    m.mpi_rank = IntField<int>(j, "mpi_rank", -1);
    m.pid = IntField<std::int64_t>(j, "pid", 0);
    m.uuid = j.value("uuid", std::string{});
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw RendezvousError(std::string("malformed member payload: ") + e.what(), where,
                          "the znode was not written by this version of ringtrain");
  }
}

}  // namespace ringtrain
