// rendezvous/status.cc — the read-only view behind `ringtrain status`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "rendezvous/records.h"
#include "rendezvous/registry_impl.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

namespace {
[[noreturn]] void Fail(ZkSession& session, const std::string& hosts, const std::string& what,
                       int rc, const std::string& path) {
  if (rc == kZNoAuth) {
    throw RendezvousError(what + ": not authorised (" + AclNote(session, path) + ")",
                          hosts + " " + path, NoAuthHint(session.secure()));
  }
  throw RendezvousError(what + ": " + ZkErrorText(rc), hosts + " " + path,
                        "check --job, --zk and --zk-root");
}
}  // namespace

namespace {

// One job's status over an open session (ReadJobStatus, ListJobs). `summary`: what the job
// list shows only (no checkpoint records but the latest, no partition map), so a list of many
// jobs costs a few reads per job.
JobStatus ReadStatusOn(ZkSession& session, const std::string& zk_hosts, const std::string& root,
                       const std::string& job, Deadline deadline, bool summary = false) {
  JobPaths paths = JobPaths::For(root, job);
  JobStatus st;
  st.zk_hosts = zk_hosts;
  st.job = job;
  st.path = paths.job;
  std::string data;
  NodeStat job_stat, ring_stat;
  int rc =
      RetryIdempotent([&] { return session.Get(paths.job, &data, &job_stat, false); }, deadline);
  if (rc == kZNoNode) {
    throw RendezvousError("no job '" + job + "' is recorded", zk_hosts + " " + paths.job,
                          "check --job, --zk and --zk-root");
  }
  if (rc != kZOk) Fail(session, zk_hosts, "cannot read the job record", rc, paths.job);
  JobRecord jr = DecodeJob(data, zk_hosts + " " + paths.job);
  st.state = jr.state;
  st.recorded_state = jr.state;
  st.outcome = jr.outcome;
  st.config_hash = jr.config_hash;
  st.config_text = jr.config_text;
  st.creator = jr.creator;
  st.created_at_unix_ms = jr.created_at_unix_ms;

  rc = RetryIdempotent([&] { return session.Get(paths.ring, &data, &ring_stat, false); }, deadline);
  if (rc != kZOk && rc != kZNoNode) Fail(session, zk_hosts, "cannot read the ring", rc, paths.ring);
  RingRecord ring = rc == kZOk ? DecodeRing(data, zk_hosts + " " + paths.ring) : RingRecord{};
  st.generation = ring.generation;
  st.ring_state = ring.state;
  st.ring_reason = ring.reason;
  st.ring = ring.members;

  std::vector<std::string> kids;
  rc = RetryIdempotent([&] { return session.Children(paths.members, &kids, false); }, deadline);
  if (rc != kZOk && rc != kZNoNode)
    Fail(session, zk_hosts, "cannot list members", rc, paths.members);
  for (const auto& k : kids) {
    std::int64_t seq = MemberSequence(k);
    if (seq < 0) continue;
    if (summary) {  // the list counts members; their payloads are not read
      LiveMember lm;
      lm.member.name = k;
      lm.sequence = seq;
      st.live_members.push_back(lm);
      continue;
    }
    int gr = RetryIdempotent(
        [&] { return session.Get(paths.members + "/" + k, &data, nullptr, false); }, deadline);
    if (gr == kZNoNode) continue;
    if (gr != kZOk) Fail(session, zk_hosts, "cannot read a member", gr, paths.members + "/" + k);
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
  // Every process of the run gone without recording how it ended: abandoned.
  const bool ended = jr.state == "finished" || jr.state == "failed" || jr.state == "refused";
  if (!ended && st.live_members.empty()) st.state = "abandoned";
  st.changed_at_unix_ms = std::max(job_stat.mtime_ms, ring_stat.mtime_ms);

  auto impl = std::make_unique<CheckpointRegistry::Impl>();
  impl->session = &session;
  impl->paths = paths;
  impl->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.Remaining());
  CheckpointRegistry registry(std::move(impl));
  if (auto latest = registry.Latest()) st.latest_epoch = latest->epoch;
  if (summary) return st;
  st.checkpoints = registry.List();
  // A malformed map is shown as such; the rest of the status still is.
  try {
    st.partitions = registry.Partitions();
  } catch (const RendezvousError& e) {
    st.partitions_error = e.what_happened();
  }
  return st;
}

}  // namespace

JobStatus ReadJobStatus(const std::string& zk_hosts, const std::string& root,
                        const std::string& job, const std::string& auth, Deadline deadline) {
  ValidateJobName(job);
  ZkSession session =
      ZkSession::Connect(zk_hosts, auth, std::chrono::milliseconds(10000), deadline);
  return ReadStatusOn(session, zk_hosts, root, job, deadline);
}

JobList ListJobs(const std::string& zk_hosts, const std::string& root, const std::string& auth,
                 Deadline deadline) {
  if (root.empty() || root[0] != '/')
    throw UsageError("the ZooKeeper root '" + root + "' does not start with '/'", "--zk-root",
                     "pass an absolute path such as /ringtrain");
  ZkSession session =
      ZkSession::Connect(zk_hosts, auth, std::chrono::milliseconds(10000), deadline);
  JobList list;
  list.zk_hosts = zk_hosts;
  list.root = root;
  std::vector<std::string> names;
  int rc = RetryIdempotent([&] { return session.Children(root, &names, false); }, deadline);
  if (rc == kZNoNode) return list;  // no job was ever created under this root
  if (rc != kZOk) Fail(session, zk_hosts, "cannot list the jobs", rc, root);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    JobListEntry e;
    e.job = name;
    try {
      ValidateJobName(name);
      JobStatus st = ReadStatusOn(session, zk_hosts, root, name, deadline, /*summary=*/true);
      e.state = st.state;
      e.generation = st.generation;
      e.live_members = static_cast<int>(st.live_members.size());
      e.latest_epoch = st.latest_epoch;
      e.changed_at_unix_ms = st.changed_at_unix_ms;
    } catch (const Error& err) {
      // One unreadable job (another team's ACL, a node not made by ringtrain) does not hide
      // the others.
      e.state = "unreadable";
      e.error = err.what_happened();
    }
    list.jobs.push_back(std::move(e));
  }
  return list;
}

namespace {
nlohmann::json MemberJson(const Member& m) {
  nlohmann::json j = nlohmann::json::parse(MemberToJson(m));
  j["name"] = m.name;
  return j;
}

// null unless finished / failed.
nlohmann::json OutcomeJson(const JobStatus& s) {
  using nlohmann::json;
  const JobOutcome& o = s.outcome;
  if (s.recorded_state == "finished")
    return {{"final_epoch", o.final_epoch},
            {"objective", std::isfinite(o.objective) ? json(o.objective) : json(nullptr)},
            {"model_path", o.model_path},
            {"ended_at_unix_ms", o.ended_at_unix_ms}};
  if (s.recorded_state == "failed")
    return {{"cause", o.cause},
            {"reported_by", o.reported_by},
            {"ended_at_unix_ms", o.ended_at_unix_ms}};
  return nullptr;
}

// "2026-12-03 17:40:01 UTC", or "-" for 0.
std::string UtcTime(std::int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
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
            {"recorded_state", s.recorded_state},
            {"changed_at_unix_ms", s.changed_at_unix_ms},
            {"outcome", OutcomeJson(s)},
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
  o << "  state: " << s.state;
  if (s.state == "abandoned") o << " (recorded " << s.recorded_state << ", no member is live)";
  o << ", last change " << UtcTime(s.changed_at_unix_ms) << ", config hash " << s.config_hash
    << ", created by " << s.creator << "\n";
  if (s.recorded_state == "finished") {
    char obj[32] = "-";
    if (std::isfinite(s.outcome.objective))
      std::snprintf(obj, sizeof obj, "%.10g", s.outcome.objective);
    o << "  finished: epoch " << s.outcome.final_epoch << ", objective " << obj << ", model "
      << (s.outcome.model_path.empty() ? std::string("(none written)") : s.outcome.model_path)
      << ", at " << UtcTime(s.outcome.ended_at_unix_ms) << "\n";
  } else if (s.recorded_state == "failed") {
    o << "  failed: " << s.outcome.cause << " (reported by " << s.outcome.reported_by << ", at "
      << UtcTime(s.outcome.ended_at_unix_ms) << ")\n";
  }
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

namespace ringtrain::rendezvous {

std::string ToJson(const JobList& list) {
  using nlohmann::json;
  json jobs = json::array();
  for (const auto& e : list.jobs) {
    json j = {{"job", e.job}, {"state", e.state}};
    if (e.error.empty()) {
      j["generation"] = e.generation;
      j["live_members"] = e.live_members;
      j["latest_epoch"] = e.latest_epoch ? json(*e.latest_epoch) : json(nullptr);
      j["changed_at_unix_ms"] = e.changed_at_unix_ms;
    } else {
      j["error"] = e.error;
    }
    jobs.push_back(j);
  }
  return json{{"zk", list.zk_hosts}, {"root", list.root}, {"jobs", jobs}}.dump();
}

namespace {
// A name from ZooKeeper (untrusted) safe to print: control bytes become '?'.
std::string Printable(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return text;
}
}  // namespace

std::string ToText(const JobList& list) {
  std::ostringstream o;
  o << list.jobs.size() << " job" << (list.jobs.size() == 1 ? "" : "s") << " under " << list.root
    << " on " << list.zk_hosts << "\n";
  if (list.jobs.empty()) return o.str();
  std::size_t w = 3;
  for (const auto& e : list.jobs) w = std::max(w, std::min<std::size_t>(e.job.size(), 200));
  char line[512];
  std::snprintf(line, sizeof line, "  %-*s  %-10s  %10s  %4s  %10s  %s\n", static_cast<int>(w),
                "job", "state", "generation", "live", "checkpoint", "last change");
  o << line;
  for (const auto& e : list.jobs) {
    if (!e.error.empty()) {
      o << "  " << Printable(e.job) << std::string(w - std::min(w, e.job.size()), ' ')
        << "  unreadable (" << Printable(e.error) << ")\n";
      continue;
    }
    const std::string ckpt = e.latest_epoch ? "epoch " + std::to_string(*e.latest_epoch) : "none";
    std::snprintf(line, sizeof line, "  %-*s  %-10s  %10lld  %4d  %10s  %s\n", static_cast<int>(w),
                  Printable(e.job).c_str(), e.state.c_str(), static_cast<long long>(e.generation),
                  e.live_members, ckpt.c_str(), UtcTime(e.changed_at_unix_ms).c_str());
    o << line;
  }
  return o.str();
}

}  // namespace ringtrain::rendezvous
