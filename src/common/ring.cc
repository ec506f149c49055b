#include "common/ring.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/error.h"
#include "common/json_fields.h"

namespace ringtrain {
std::string Ring::Describe(int r) const {
  if (r < 0 || r >= world_size()) return "rank " + std::to_string(r);
  const Member& m = members[static_cast<std::size_t>(r)];
  return "rank " + std::to_string(r) + " (" + m.host + ":" + std::to_string(m.port) + ")";
}

std::string MemberToJson(const Member& m) {
  nlohmann::json j = {{"host", m.host},
                      {"port", m.port},
                      {"mpi_rank", m.mpi_rank},
                      {"pid", m.pid},
                      {"uuid", m.uuid}};
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
