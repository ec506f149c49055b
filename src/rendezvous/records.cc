// rendezvous/records.cc — JSON payloads of the job's znodes, config diff, name checks.
#include "rendezvous/records.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/error.h"
#include "common/json_fields.h"

namespace ringtrain::rendezvous {

using nlohmann::json;

JobPaths JobPaths::For(const std::string& root, const std::string& job) {
  std::string base = root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  JobPaths p;
  p.job = (base == "/" ? std::string() : base) + "/" + job;
  p.members = p.job + "/members";
  p.ring = p.job + "/ring";
  p.checkpoints = p.job + "/checkpoints";
  p.latest = p.job + "/latest";
  p.partitions = p.job + "/partitions";
  return p;
}

std::int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ValidateJobName(const std::string& job) {
  const char* hint = "pass --job NAME: 1..200 bytes, no '/'";
  if (job.empty()) throw UsageError("the job name is empty", "--job", hint);
  if (job.find('/') != std::string::npos) {
    throw UsageError("the job name '" + job + "' contains '/'", "--job", hint);
  }
  if (job.size() > 200) {
    throw UsageError("the job name is " + std::to_string(job.size()) + " bytes long (max 200)",
                     "--job", hint);
  }
  if (job == "." || job == "..")
    throw UsageError("the job name '" + job + "' is reserved", "--job", hint);
  for (unsigned char c : job) {
    if (c < 0x20 || c == 0x7f)
      throw UsageError("the job name contains a control character", "--job", hint);
  }
}

namespace {
std::string Trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  std::size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}
std::map<std::string, std::string> ParseConfig(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      out[line] = "";
    } else {
      out[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
    }
  }
  return out;
}
}  // namespace

std::vector<std::string> DiffConfig(const std::string& job_text, const std::string& mine) {
  auto a = ParseConfig(job_text);
  auto b = ParseConfig(mine);
  std::vector<std::string> out;
  auto show = [](const std::map<std::string, std::string>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::string("<unset>") : it->second;
  };
  std::map<std::string, bool> keys;
  for (const auto& [k, v] : a) keys[k] = true;
  for (const auto& [k, v] : b) keys[k] = true;
  for (const auto& [k, unused] : keys) {
    std::string va = show(a, k), vb = show(b, k);
    if (va != vb) out.push_back(k + " (job: " + va + ", yours: " + vb + ")");
  }
  return out;
}

std::string EncodeMember(const MemberRecord& r) {
  json j = json::parse(MemberToJson(r.member));
  j["agreed"] = r.agreed;
  if (!r.refusal.empty()) j["refusal"] = r.refusal;
  return j.dump();
}

MemberRecord DecodeMember(const std::string& text, const std::string& where) {
  MemberRecord r;
  r.member = MemberFromJson(text, where);
  try {
    json j = json::parse(text);
    r.agreed = j.value("agreed", std::string());
    r.refusal = j.value("refusal", std::string());
  } catch (const json::exception& e) {
    throw RendezvousError(std::string("malformed member payload: ") + e.what(), where,
                          "the znode was not written by this version of ringtrain");
  }
  return r;
}

std::string DescribeDisagreement(const std::vector<std::string>& who,
                                 const std::vector<std::string>& texts) {
  std::vector<std::map<std::string, std::string>> parsed;
  std::map<std::string, bool> keys;
  for (const auto& t : texts) {
    parsed.push_back(ParseConfig(t));
    for (const auto& [k, v] : parsed.back()) keys[k] = true;
  }
  std::string out;
  for (const auto& [k, unused] : keys) {
    // value -> who gave it, in the order of first appearance
    std::vector<std::pair<std::string, std::string>> values;
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      auto it = parsed[i].find(k);
      const std::string v = it == parsed[i].end() ? "<unset>" : "'" + it->second + "'";
      auto slot =
          std::find_if(values.begin(), values.end(), [&](const auto& p) { return p.first == v; });
      if (slot == values.end()) {
        values.emplace_back(v, who[i]);
      } else {
        slot->second += ", " + who[i];
      }
    }
    if (values.size() < 2) continue;
    out += (out.empty() ? "" : "; ") + k + " (";
    for (std::size_t i = 0; i < values.size(); ++i)
      out += (i ? "; " : "") + values[i].first + " on " + values[i].second;
    out += ")";
  }
  return out;
}

std::string EncodeJob(const JobRecord& r) {
  json j = {{"config_text", r.config_text},
            {"config_hash", r.config_hash},
            {"creator", r.creator},
            {"created_at_unix_ms", r.created_at_unix_ms},
            {"state", r.state},
            {"token", r.token},
            {"changed_at_unix_ms", r.changed_at_unix_ms}};
  const JobOutcome& o = r.outcome;
  if (r.state == "finished") {
    j["final_epoch"] = o.final_epoch;
    j["objective"] = std::isfinite(o.objective) ? json(o.objective) : json(nullptr);
    j["model_path"] = o.model_path;
  }
  if (r.state == "finished" || r.state == "failed") j["ended_at_unix_ms"] = o.ended_at_unix_ms;
  if (r.state == "failed") {
    j["cause"] = o.cause;
    j["reported_by"] = o.reported_by;
  }
  return j.dump();
}

JobRecord DecodeJob(const std::string& text, const std::string& where) {
  try {
    json j = json::parse(text);
    JobRecord r;
    r.config_text = j.at("config_text").get<std::string>();
    r.config_hash = j.at("config_hash").get<std::string>();
    r.creator = j.value("creator", std::string());
    r.created_at_unix_ms = IntField<std::int64_t>(j, "created_at_unix_ms", 0);
    r.state = j.value("state", std::string("forming"));
    r.token = j.at("token").get<std::string>();
    r.changed_at_unix_ms = IntField<std::int64_t>(j, "changed_at_unix_ms", 0);
    JobOutcome& o = r.outcome;
    o.final_epoch = IntField<std::int64_t>(j, "final_epoch", -1);
    if (j.contains("objective") && !j.at("objective").is_null()) {
      if (!j.at("objective").is_number())
        throw json::type_error::create(302, "'objective' must be a number", &j.at("objective"));
      o.objective = j.at("objective").get<double>();
    }
    o.model_path = j.value("model_path", std::string());
    o.ended_at_unix_ms = IntField<std::int64_t>(j, "ended_at_unix_ms", 0);
    o.cause = j.value("cause", std::string());
    o.reported_by = j.value("reported_by", std::string());
    return r;
  } catch (const json::exception& e) {
    throw RendezvousError(std::string("malformed job record: ") + e.what(), where,
                          "the node was not written by ringtrain; use another --job or --zk-root");
  }
}

bool RingRecord::Contains(const std::string& name) const {
  for (const auto& m : members) {
    if (m.name == name) return true;
  }
  return false;
}

std::string EncodeRing(const RingRecord& r) {
  json members = json::array();
  for (const auto& m : r.members) {
    json jm = json::parse(MemberToJson(m));
    jm["name"] = m.name;
    members.push_back(jm);
  }
  json j = {{"generation", r.generation},
            {"state", r.state},
            {"world_size", r.members.size()},
            {"members", members},
            {"max_seq", r.max_seq},
            {"reason", r.reason},
            {"session_timeout_ms", r.session_timeout_ms},
            {"time_unix_ms", r.time_unix_ms},
            {"agreed", r.agreed}};
  return j.dump();
}

RingRecord DecodeRing(const std::string& text, const std::string& where) {
  RingRecord r;
  if (text.empty()) return r;
  try {
    json j = json::parse(text);
    r.generation = IntField<std::int64_t>(j, "generation", 0);
    r.state = j.value("state", std::string("none"));
    r.max_seq = IntField<std::int64_t>(j, "max_seq", -1);
    r.reason = j.value("reason", std::string());
    r.session_timeout_ms = IntField<std::int64_t>(j, "session_timeout_ms", 0);
    r.time_unix_ms = IntField<std::int64_t>(j, "time_unix_ms", 0);
    r.agreed = j.value("agreed", std::string());
    for (const auto& jm : j.value("members", json::array())) {
      Member m = MemberFromJson(jm.dump(), where);
      m.name = jm.value("name", std::string());
      r.members.push_back(std::move(m));
    }
    return r;
  } catch (const json::exception& e) {
    throw RendezvousError(std::string("malformed ring record: ") + e.what(), where,
                          "the node was not written by ringtrain");
  }
}

std::string EncodeCheckpoint(const CheckpointRecord& r) {
  json metrics;
  try {
    metrics = r.metrics_json.empty() ? json::object() : json::parse(r.metrics_json);
  } catch (const json::exception&) {
    metrics = r.metrics_json;  // keep it as a string rather than lose it
  }
  json j = {{"epoch", r.epoch},           {"generation", r.generation},
            {"world_size", r.world_size}, {"path", r.path},
            {"bytes", r.bytes},           {"checksum", r.checksum},
            {"metrics", metrics},         {"time_unix_ms", r.time_unix_ms}};
  return j.dump();
}

CheckpointRecord DecodeCheckpoint(const std::string& text, const std::string& where) {
  try {
    json j = json::parse(text);
    CheckpointRecord r;
    r.epoch = IntField<std::int64_t>(j, "epoch");
    r.generation = IntField<std::int64_t>(j, "generation", 0);
    r.world_size = IntField<int>(j, "world_size", 0);
    r.path = j.value("path", std::string());
    r.bytes = IntField<std::int64_t>(j, "bytes", 0);
    r.checksum = j.value("checksum", std::string());
    const json& m = j.contains("metrics") ? j.at("metrics") : json::object();
    r.metrics_json = m.is_string() ? m.get<std::string>() : m.dump();
    r.time_unix_ms = IntField<std::int64_t>(j, "time_unix_ms", 0);
    return r;
  } catch (const json::exception& e) {
    throw RendezvousError(std::string("malformed checkpoint record: ") + e.what(), where,
                          "delete it with `ringtrain checkpoints delete EPOCH`");
  }
}

std::string EpochNodeName(std::int64_t epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "epoch-%010lld", static_cast<long long>(epoch));
  return buf;
}

std::optional<std::int64_t> ParseEpochNodeName(const std::string& name) {
  if (name.rfind("epoch-", 0) != 0 || name.size() <= 6) return std::nullopt;
  std::int64_t v = 0;
  for (std::size_t i = 6; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    // Fuzz regression: more than 18 digits overflowed int64 (UB).
    if (v > (std::numeric_limits<std::int64_t>::max() - (name[i] - '0')) / 10) return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

std::string EncodeLatest(std::optional<std::int64_t> epoch) {
  if (!epoch) return "";
  return json{{"epoch", *epoch}, {"node", EpochNodeName(*epoch)}}.dump();
}

std::optional<std::int64_t> DecodeLatest(const std::string& text) {
  if (text.empty()) return std::nullopt;
  try {
    return IntField<std::int64_t>(json::parse(text), "epoch");
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::int64_t MemberSequence(const std::string& name) {
  std::size_t pos = name.rfind("-m-");
  if (pos == std::string::npos || name.size() - pos - 3 != 10) return -1;
  std::int64_t v = 0;
  for (std::size_t i = pos + 3; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

std::string MemberUuid(const std::string& name) {
  if (name.rfind("_c_", 0) != 0) return {};
  std::size_t pos = name.rfind("-m-");
  if (pos == std::string::npos || pos < 3) return {};
  return name.substr(3, pos - 3);
}

}  // namespace ringtrain::rendezvous
