// rendezvous/status.cc — the read-only view behind `ringtrain status`.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "rendezvous/records.h"
#include "rendezvous/registry_impl.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

namespace {
[[noreturn]] void Fail(const std::string& hosts, const std::string& what, int rc,
                       const std::string& path) {
  if (rc == kZNoAuth) {
    throw RendezvousError(what + ": not authorised by the node's ACL", hosts + " " + path,
                          "pass the job's --zk-auth user:password");
  }
  throw RendezvousError(what + ": " + ZkErrorText(rc), hosts + " " + path,
                        "check --job, --zk and --zk-root");
}
}  // namespace

JobStatus ReadJobStatus(const std::string& zk_hosts, const std::string& root,
                        const std::string& job, const std::string& auth, Deadline deadline) {
  ValidateJobName(job);
  ZkSession session =
      ZkSession::Connect(zk_hosts, auth, std::chrono::milliseconds(10000), deadline);
  JobPaths paths = JobPaths::For(root, job);
  JobStatus st;
  st.zk_hosts = zk_hosts;
  st.job = job;
  st.path = paths.job;
  std::string data;
  int rc = RetryIdempotent([&] { return session.Get(paths.job, &data, nullptr, false); }, deadline);
  if (rc == kZNoNode) {
    throw RendezvousError("no job '" + job + "' is recorded", zk_hosts + " " + paths.job,
                          "check --job, --zk and --zk-root");
  }
  if (rc != kZOk) Fail(zk_hosts, "cannot read the job record", rc, paths.job);
  JobRecord jr = DecodeJob(data, zk_hosts + " " + paths.job);
  st.state = jr.state;
  st.config_hash = jr.config_hash;
  st.config_text = jr.config_text;
  st.creator = jr.creator;
  st.created_at_unix_ms = jr.created_at_unix_ms;

  rc = RetryIdempotent([&] { return session.Get(paths.ring, &data, nullptr, false); }, deadline);
  if (rc != kZOk && rc != kZNoNode) Fail(zk_hosts, "cannot read the ring", rc, paths.ring);
  RingRecord ring = rc == kZOk ? DecodeRing(data, zk_hosts + " " + paths.ring) : RingRecord{};
  st.generation = ring.generation;
  st.ring_state = ring.state;
  st.ring_reason = ring.reason;
  st.ring = ring.members;

  std::vector<std::string> kids;
  rc = RetryIdempotent([&] { return session.Children(paths.members, &kids, false); }, deadline);
  if (rc != kZOk && rc != kZNoNode) Fail(zk_hosts, "cannot list members", rc, paths.members);
  for (const auto& k : kids) {
    std::int64_t seq = MemberSequence(k);
    if (seq < 0) continue;
    int gr = RetryIdempotent(
        [&] { return session.Get(paths.members + "/" + k, &data, nullptr, false); }, deadline);
    if (gr == kZNoNode) continue;
    if (gr != kZOk) Fail(zk_hosts, "cannot read a member", gr, paths.members + "/" + k);
    LiveMember lm;
    lm.member = MemberFromJson(data, zk_hosts + " " + paths.members + "/" + k);
    lm.member.name = k;
    lm.sequence = seq;
    st.live_members.push_back(lm);
  }
  std::sort(st.live_members.begin(), st.live_members.end(),
            [](const LiveMember& a, const LiveMember& b) { return a.sequence < b.sequence; });
  // The acting leader: the first ring member still live, else the lowest live member.
  for (const auto& m : ring.members) {
    bool alive = std::any_of(st.live_members.begin(), st.live_members.end(),
                             [&](const LiveMember& l) { return l.member.name == m.name; });
    if (alive && ring.state == "active") {
      st.leader = m.name;
      break;
    }
  }
  if (st.leader.empty() && !st.live_members.empty())
    st.leader = st.live_members.front().member.name;

  auto impl = std::make_unique<CheckpointRegistry::Impl>();
  impl->session = &session;
  impl->paths = paths;
  impl->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.Remaining());
  CheckpointRegistry registry(std::move(impl));
  st.checkpoints = registry.List();
  if (auto latest = registry.Latest()) st.latest_epoch = latest->epoch;
  // A malformed map is shown as such; the rest of the status still is.
  try {
    st.partitions = registry.Partitions();
  } catch (const RendezvousError& e) {
    st.partitions_error = e.what_happened();
  }
  return st;
}

namespace {
nlohmann::json MemberJson(const Member& m) {
  nlohmann::json j = nlohmann::json::parse(MemberToJson(m));
  j["name"] = m.name;
  return j;
}
}  // namespace

std::string ToJson(const JobStatus& s) {
  using nlohmann::json;
  json ring = json::array(), live = json::array(), ckpts = json::array();
  for (const auto& m : s.ring) ring.push_back(MemberJson(m));
  for (const auto& l : s.live_members) {
    json j = MemberJson(l.member);
    j["sequence"] = l.sequence;
    live.push_back(j);
  }
  for (const auto& c : s.checkpoints) {
    json m;
    try {
      m = json::parse(c.metrics_json.empty() ? "{}" : c.metrics_json);
    } catch (const json::exception&) {
      m = c.metrics_json;
    }
    ckpts.push_back({{"epoch", c.epoch},
                     {"generation", c.generation},
                     {"world_size", c.world_size},
                     {"path", c.path},
                     {"bytes", c.bytes},
                     {"checksum", c.checksum},
                     {"metrics", m},
                     {"time_unix_ms", c.time_unix_ms}});
  }
  json j = {{"zk", s.zk_hosts},
            {"job", s.job},
            {"path", s.path},
            {"state", s.state},
            {"config_hash", s.config_hash},
            {"creator", s.creator},
            {"created_at_unix_ms", s.created_at_unix_ms},
            {"generation", s.generation},
            {"ring_state", s.ring_state},
            {"ring_reason", s.ring_reason},
            {"world_size", s.ring.size()},
            {"ring", ring},
            {"live_members", live},
            {"leader", s.leader},
            {"latest_epoch", s.latest_epoch ? json(*s.latest_epoch) : json(nullptr)},
            {"checkpoints", ckpts}};
  j["partitions"] = s.partitions ? json::parse(ToJson(*s.partitions)) : json(nullptr);
  if (!s.partitions_error.empty()) j["partitions_error"] = s.partitions_error;
  return j.dump();
}

std::string ToText(const JobStatus& s) {
  std::ostringstream o;
  o << "job " << s.job << " (" << s.path << " on " << s.zk_hosts << ")\n";
  o << "  state: " << s.state << ", config hash " << s.config_hash << ", created by " << s.creator
    << "\n";
  o << "  ring: generation " << s.generation << ", " << s.ring_state;
  if (!s.ring_reason.empty()) o << " (" << s.ring_reason << ")";
  o << ", " << s.ring.size() << " members\n";
  for (std::size_t i = 0; i < s.ring.size(); ++i) {
    const Member& m = s.ring[i];
    o << "    rank " << i << "  " << m.host << ":" << m.port << "  pid " << m.pid;
    if (m.mpi_rank >= 0) o << "  mpi rank " << m.mpi_rank;
    o << (m.name == s.leader ? "  (leader)" : "") << "\n";
  }
  o << "  live members: " << s.live_members.size() << "\n";
  for (const auto& l : s.live_members) {
    o << "    seq " << l.sequence << "  " << l.member.host << ":" << l.member.port << "  pid "
      << l.member.pid << (l.member.name == s.leader ? "  (leader)" : "") << "\n";
  }
  o << "  leader: " << (s.leader.empty() ? std::string("none") : s.leader) << "\n";
  o << "  checkpoints: " << s.checkpoints.size();
  if (s.latest_epoch) o << ", latest epoch " << *s.latest_epoch;
  o << "\n";
  for (const auto& c : s.checkpoints) {
    o << "    epoch " << c.epoch << "  generation " << c.generation << "  world " << c.world_size
      << "  " << c.bytes << " bytes  " << c.checksum << "  " << c.path << "\n";
  }
  if (!s.partitions_error.empty()) o << "  partitions: unreadable (" << s.partitions_error << ")\n";
  if (s.partitions) {
    const PartitionMap& m = *s.partitions;
    o << "  partitions: generation " << m.generation << " (ring generation " << m.ring_generation
      << ", from epoch " << m.epoch << ", " << m.reason << "), " << m.total_rows << " rows of "
      << m.source << "\n";
    for (std::size_t r = 0; r < m.parts.size(); ++r) {
      const Part& p = m.parts[r];
      char figures[96] = "not measured yet";
      if (p.compute_s > 0)
        std::snprintf(figures, sizeof figures, "compute %.4g s/epoch, %.4g rows/s", p.compute_s,
                      p.rows_per_s);
      o << "    rank " << r << "  rows " << p.first_row << "-" << p.first_row + p.rows << " ("
        << p.rows << ")  " << m.unit << " " << p.begin << "-" << p.end << "  nonzeros "
        << p.nonzeros << "  " << figures << "\n";
    }
  }
  return o.str();
}

}  // namespace ringtrain::rendezvous
