// rendezvous/rendezvous_coordinator.cc — the coordinator thread: leader election, ring
// publication, and loss detection (session events, vanished members, superseded rings).
//
// Why shaped so: one coordinator thread per member owns the protocol and is the only code
// that reacts to ZooKeeper events, so every decision is a full re-evaluation of (ring node,
// members) — idempotent, and correct after any missed or duplicated notification. Only the
// leader watches members/ (O(N) notifications per change, no herd); the others watch their
// predecessor (succession) and the ring node. Eligibility keeps lingering ephemerals of an
// earlier, killed run out of a new ring: after a non-elastic ring is lost, only members with
// a sequence above that ring's highest member sequence may form the next one.
#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous_impl.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

namespace {
constexpr int kAgain = 1;  // Evaluate(): re-evaluate at once

std::vector<LiveNode> SortLive(const std::vector<std::string>& kids) {
  std::vector<LiveNode> out;
  for (const auto& k : kids) {
    std::int64_t s = MemberSequence(k);
    if (s >= 0) out.push_back({k, s});
  }
  std::sort(out.begin(), out.end(),
            [](const LiveNode& a, const LiveNode& b) { return a.seq < b.seq; });
  return out;
}

std::string Describe(const RingRecord& r, const std::string& name) {
  for (std::size_t i = 0; i < r.members.size(); ++i) {
    if (r.members[i].name == name) {
      return "member rank " + std::to_string(i) + " (" + r.members[i].host + ":" +
             std::to_string(r.members[i].port) + ")";
    }
  }
  return "member " + name;
}
}  // namespace

std::vector<std::string> Rendezvous::Impl::Eligible(const RingRecord& r,
                                                    const std::vector<LiveNode>& live) const {
  std::vector<std::string> out;
  if (elastic) {
    for (const auto& n : live) out.push_back(n.name);
    return out;
  }
  if (r.state == "active") {
    for (const auto& n : live) {
      if (r.Contains(n.name)) out.push_back(n.name);
    }
    if (!out.empty()) return out;
  }
  for (const auto& n : live) {
    if (n.seq > r.max_seq) out.push_back(n.name);
  }
  return out;
}

void Rendezvous::Impl::SetFatal(const std::string& reason, bool is_refusal) {
  std::function<void()> h;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (fatal) return;
    fatal = true;
    refused = is_refusal;
    fatal_reason = reason;
    if (returned && !lost) {
      lost = true;
      lost_reason = reason;
      h = hook;
    }
    cv.notify_all();
  }
  if (!is_refusal) log::Warn("rendezvous: " + reason);  // a refusal is the caller's error line
  if (h) h();
}

// Once per process, on the leader's first active publication: a job without --zk-auth is
// open to every client of the ensemble; a root that lets everybody delete or re-ACL it (made
// by an older version, or changed) exposes every job under it.
void Rendezvous::Impl::WarnOpenAcls() {
  said_open = true;
  if (opts.auth.empty()) {
    log::Warn("job '" + opts.job + "' runs without --zk-auth: its znodes (" + paths.job +
              ") are readable and writable by every client of " + session.hosts() +
              " (token, ring, checkpoint records); pass --zk-auth user:password to make them "
              "creator-only (docs/rendezvous.md, \"ACLs\")");
  }
  std::vector<AclEntry> acl;
  if (session.GetAcl(opts.root, &acl) != kZOk) return;
  for (const auto& e : acl) {
    if (e.scheme == "world" && (e.perms & (kPermDelete | kPermAdmin | kPermWrite)) != 0) {
      log::Warn("the root " + opts.root + " has the ACL " + DescribeAcl(acl) +
                ": any client may delete jobs under it or change its ACL; set it to "
                "world:anyone:cr (zkCli.sh setAcl " +
                opts.root + " world:anyone:cr) (docs/rendezvous.md, \"ACLs\")");
      return;
    }
  }
}

std::string Rendezvous::Impl::LockoutReason() {
  std::string data, path;
  std::vector<std::string> kids;
  if (session.Get(paths.ring, &data, nullptr, false) == kZNoAuth)
    path = paths.ring;
  else if (session.Children(paths.members, &kids, false) == kZNoAuth)
    path = paths.members;
  else if (session.Get(paths.job, &data, nullptr, false) == kZNoAuth)
    path = paths.job;
  std::string note =
      path.empty() ? "a member node's payload is not readable by this client"
                   : path + " is not readable by this client (" + AclNote(session, path) + ")";
  return "lost access to job '" + opts.job + "': " + note +
         "; someone changed the ACL of the job's znodes (" + NoAuthHint(!opts.auth.empty()) + ")";
}

// A member's payload, read once. A payload that is not ringtrain's counts as a refusal.
const MemberRecord* Rendezvous::Impl::Payload(const std::string& name, int* rc) {
  *rc = kZOk;
  auto it = record_cache.find(name);
  if (it != record_cache.end()) return &it->second;
  std::string data;
  *rc = session.Get(paths.members + "/" + name, &data, nullptr, false);
  if (*rc != kZOk) return nullptr;
  MemberRecord m;
  try {
    m = DecodeMember(data, Where(paths.members + "/" + name));
    m.member.name = name;
    member_cache.emplace(name, m.member);
  } catch (const Error& e) {
    m.member.name = name;
    m.refusal = "its member node " + paths.members + "/" + name + " is not ringtrain's";
  }
  return &record_cache.emplace(name, std::move(m)).first->second;
}

namespace {
// "rank 2 (host:port)" of a payload at ring position i.
std::string Who(std::size_t i, const MemberRecord& m) {
  return "rank " + std::to_string(i) + " (" +
         (m.member.host.empty() ? m.member.name
                                : m.member.host + ":" + std::to_string(m.member.port)) +
         ")";
}

// Why members at positions 0.. with these payloads cannot form one ring ("" if they can).
std::string Disagreement(const std::string& job, const std::vector<const MemberRecord*>& ms) {
  std::vector<std::string> who, texts;
  std::string refusals;
  for (std::size_t i = 0; i < ms.size(); ++i) {
    who.push_back(Who(i, *ms[i]));
    texts.push_back(ms[i]->agreed);
    if (!ms[i]->refusal.empty())
      refusals += (refusals.empty() ? "" : "; ") + who.back() + ": " + ms[i]->refusal;
  }
  std::string keys = DescribeDisagreement(who, texts);
  if (keys.empty() && refusals.empty()) return {};
  std::string out = "the ranks of job '" + job + "' disagree: ";
  if (!keys.empty()) out += "options differ: " + keys;
  if (!refusals.empty()) out += (keys.empty() ? "" : "; ") + refusals;
  return out;
}
}  // namespace

// Leader: a ring is formed only by members that agree. Before the first ring of a run every
// eligible member must give the leader's options (else the ring is published "refused" and
// they all exit with a usage error); a newcomer to an active elastic ring that differs is
// not admitted (it refuses itself: CheckLateJoiner).
int Rendezvous::Impl::Agree(const RingRecord& r, int version, std::vector<std::string>* eligible) {
  std::vector<const MemberRecord*> ms;
  for (const auto& name : *eligible) {
    int rc = kZOk;
    const MemberRecord* m = Payload(name, &rc);
    if (rc == kZNoNode) return kAgain;
    if (m == nullptr) return rc;
    ms.push_back(m);
  }
  if (r.state == "active") {
    std::vector<std::string> keep;
    for (std::size_t i = 0; i < ms.size(); ++i)
      if (r.Contains((*eligible)[i]) ||
          (ms[i]->agreed == opts.agreed_text && ms[i]->refusal.empty()))
        keep.push_back((*eligible)[i]);
    *eligible = std::move(keep);
    return kZOk;
  }
  const std::string why = Disagreement(opts.job, ms);
  if (why.empty()) return kZOk;
  return Publish(r, version, "refused", *eligible, -1, why);
}

// Every member not in ring `r`: a refusal or a ring with other options published just before
// this member joined (Options::refusal_window, server clock) was its own launch's: it is
// refused too (and refuses that ring). Later, a member whose options differ from a live
// ring's refuses only itself.
int Rendezvous::Impl::CheckLateJoiner(const RingRecord& r, const NodeStat& rs, int version,
                                      const std::vector<LiveNode>& live) {
  const bool within = my_ctime_ms - rs.mtime_ms < opts.refusal_window.count();
  if (r.state == "refused") {
    if (within)
      SetFatal(r.reason + " (this member joined " + std::to_string(my_ctime_ms - rs.mtime_ms) +
                   " ms after that refusal)",
               true);
    return kZOk;
  }
  if (r.state != "active") return kZOk;
  // Held: every member of the ring is live (a ring with a member gone is a killed run's, whose
  // lingering nodes do not make it a launch to refuse).
  std::size_t alive = 0;
  for (const auto& n : live) alive += r.Contains(n.name) ? 1 : 0;
  const bool held = alive == r.members.size();
  if (!held || (r.agreed == opts.agreed_text && refusal.empty())) return kZOk;
  std::vector<MemberRecord> ring;
  std::vector<const MemberRecord*> ms;
  for (const auto& m : r.members) ring.push_back({m, r.agreed, ""});
  for (const auto& m : ring) ms.push_back(&m);
  const MemberRecord self{opts.self, opts.agreed_text, refusal};
  ms.push_back(&self);
  std::string why = Disagreement(opts.job, ms);
  if (within) {
    std::vector<std::string> names;
    for (const auto& m : r.members) names.push_back(m.name);
    names.push_back(my_name);
    return Publish(r, version, "refused", names, -1,
                   why + " (rank " + std::to_string(r.members.size()) + " joined " +
                       std::to_string(my_ctime_ms - rs.mtime_ms) + " ms after the ring formed)");
  }
  SetFatal("job '" + opts.job + "' is held by a live ring (generation " +
               std::to_string(r.generation) + ") whose options differ from this member's: " + why,
           true);
  return kZOk;
}

// Two steps so the lost hook has run before WaitForRing can hand out the next ring (the
// trainer's Abort happens-before it sees the new generation).
void Rendezvous::Impl::Deliver(const RingRecord& r, int version) {
  std::function<void()> h;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (r.generation <= seen_generation) return;
    seen_generation = r.generation;
    if (returned && r.generation > returned->generation && !lost) {
      lost = true;
      lost_reason = (r.reason.empty() ? std::string("ring superseded") : r.reason) +
                    " (generation " + std::to_string(r.generation) + ")";
      h = hook;
    }
    pending.reset();
  }
  if (h) h();
  if (r.state != "active" || !r.Contains(my_name)) return;
  Ring ring;
  ring.job = opts.job;
  ring.generation = r.generation;
  ring.members = r.members;
  ring.token = job.token;
  for (std::size_t i = 0; i < r.members.size(); ++i) {
    if (r.members[i].name == my_name) ring.rank = static_cast<int>(i);
  }
  std::lock_guard<std::mutex> lock(mu);
  pending = std::move(ring);
  pending_version = version;
  cv.notify_all();
}

int Rendezvous::Impl::Publish(const RingRecord& old, int version, const std::string& state,
                              const std::vector<std::string>& names, std::int64_t max_seq,
                              const std::string& reason) {
  RingRecord n;
  n.generation = old.generation + 1;
  n.state = state;
  n.reason = reason;
  n.max_seq = max_seq;
  n.session_timeout_ms = session.negotiated_timeout().count();
  n.time_unix_ms = NowUnixMs();
  for (const auto& name : names) {
    auto it = member_cache.find(name);
    if (it == member_cache.end()) {
      for (const auto& m : old.members) {
        if (m.name == name) it = member_cache.emplace(name, m).first;
      }
    }
    if (it == member_cache.end()) {
      std::string data;
      int rc = session.Get(paths.members + "/" + name, &data, nullptr, false);
      if (rc == kZNoNode) return kAgain;
      if (rc != kZOk) return rc;
      Member m = MemberFromJson(data, Where(paths.members + "/" + name));
      m.name = name;
      it = member_cache.emplace(name, m).first;
    }
    n.members.push_back(it->second);
    if (max_seq < 0) n.max_seq = std::max(n.max_seq, MemberSequence(name));
  }
  n.agreed = opts.agreed_text;
  std::vector<ZkOp> ops = {ZkOp::Check(paths.members + "/" + my_name, -1),
                           ZkOp::Set(paths.ring, EncodeRing(n), version)};
  // The job record follows the publication, fenced by its version, except after this run
  // ended, and except that a recorded outcome (finished, failed) is replaced only by a new
  // run's active ring, not by a lost or refused generation published after it.
  if (!ended.load()) {
    std::string data;
    NodeStat js;
    int jrc = session.Get(paths.job, &data, &js, false);
    if (jrc != kZOk) return jrc == kZNoNode ? kAgain : jrc;
    JobRecord jr = job;
    try {
      jr = DecodeJob(data, Where(paths.job));
    } catch (const Error& e) {
      log::Warn("rendezvous: " + std::string(e.what()) + "; rewriting the job record");
    }
    const bool outcome = jr.state == "finished" || jr.state == "failed";
    if (state == "active" || !outcome) {
      jr.state = state == "active" ? "running" : state;
      jr.outcome = JobOutcome{};
      jr.changed_at_unix_ms = NowUnixMs();
      ops.push_back(ZkOp::Set(paths.job, EncodeJob(jr), js.version));
    }
  }
  int rc = session.Multi(ops, nullptr);
  if (rc == kZOk) {
    if (state == "active" && !said_open) WarnOpenAcls();
    log::Info("rendezvous: leader published " + paths.ring + " generation " +
              std::to_string(n.generation) + " (" + state + ", " +
              std::to_string(n.members.size()) + " members): " + reason);
    return kAgain;
  }
  if (rc == kZBadVersion || rc == kZNoNode) return kAgain;  // fenced: re-read and decide again
  return rc;
}

int Rendezvous::Impl::LeaderStep(const RingRecord& r, int version,
                                 const std::vector<LiveNode>& live,
                                 const std::vector<std::string>& eligible) {
  std::set<std::string> live_set;
  for (const auto& n : live) live_set.insert(n.name);
  std::vector<std::string> missing, survivors;
  for (const auto& m : r.members) (live_set.count(m.name) ? survivors : missing).push_back(m.name);
  std::string loss = missing.empty() ? "" : Describe(r, missing.front()) + " left";
  auto settled = [&](Clock::time_point since) {
    if (Clock::now() - since >= opts.settle) return true;
    timer = Deadline(since + opts.settle);
    return false;
  };
  if (!elastic) {
    int ranks = opts.ranks;
    if (r.state == "active") {
      if (!missing.empty()) return Publish(r, version, "lost", survivors, r.max_seq, loss);
      return kZOk;
    }
    if (static_cast<int>(eligible.size()) >= ranks) {
      std::vector<std::string> chosen(eligible.begin(), eligible.begin() + ranks);
      return Publish(r, version, "active", chosen, -1,
                     "formed with " + std::to_string(ranks) + " members");
    }
    return kZOk;
  }
  // Elastic: everybody live is eligible, ring order = sequence order.
  std::vector<std::string> cands = eligible;
  if (static_cast<int>(cands.size()) > max_ranks) cands.resize(static_cast<std::size_t>(max_ranks));
  int count = static_cast<int>(cands.size());
  if (r.state == "active") {
    if (!missing.empty()) {
      if (count >= min_ranks) {
        return Publish(r, version, "active", cands, -1,
                       loss + "; " + std::to_string(count) + " members continue");
      }
      return Publish(r, version, "lost", survivors, r.max_seq,
                     loss + "; waiting for " + std::to_string(min_ranks) + " members");
    }
    bool newcomers = static_cast<int>(r.members.size()) < count;
    if (newcomers && settled(last_change)) {
      return Publish(r, version, "active", cands, -1,
                     std::to_string(count - static_cast<int>(r.members.size())) + " joined");
    }
    return kZOk;
  }
  if (count >= max_ranks || (count >= min_ranks && settled(last_change))) {
    return Publish(r, version, "active", cands, -1,
                   "formed with " + std::to_string(count) + " members");
  }
  return kZOk;
}

int Rendezvous::Impl::Evaluate() {
  std::string data;
  NodeStat rs;
  int rc = session.Get(paths.ring, &data, &rs, true);
  if (rc != kZOk) return rc;
  RingRecord r = DecodeRing(data, Where(paths.ring));
  std::vector<std::string> kids;
  rc = session.Children(paths.members, &kids, false);
  if (rc != kZOk) return rc;
  auto live = SortLive(kids);
  if (std::none_of(live.begin(), live.end(),
                   [&](const LiveNode& n) { return n.name == my_name; })) {
    SetFatal("this member's node " + paths.members + "/" + my_name +
             " is gone (session expired or node deleted)");
    return kZOk;
  }
  if (r.state == "refused" && r.Contains(my_name)) {
    SetFatal(r.reason, true);
    return kZOk;
  }
  if (r.Contains(my_name) && r.state == "active" && r.agreed != opts.agreed_text) {
    // A ring with other options than this member's (a leader that did not compare): refuse it.
    std::vector<const MemberRecord*> ms;
    std::vector<MemberRecord> ring;
    for (const auto& m : r.members)
      ring.push_back({m, m.name == my_name ? opts.agreed_text : r.agreed, ""});
    for (const auto& m : ring) ms.push_back(&m);
    std::vector<std::string> names;
    for (const auto& m : r.members) names.push_back(m.name);
    return Publish(r, rs.version, "refused", names, -1, Disagreement(opts.job, ms));
  }
  if (!r.Contains(my_name)) {
    rc = CheckLateJoiner(r, rs, rs.version, live);
    if (rc != kZOk) return rc;
    std::lock_guard<std::mutex> lock(mu);
    if (fatal) return kZOk;
  }
  auto eligible = Eligible(r, live);
  auto me = std::find(eligible.begin(), eligible.end(), my_name);
  if (me != eligible.end() && me == eligible.begin()) {
    // Leader: re-list with the watch so no change between the two reads goes unseen.
    rc = session.Children(paths.members, &kids, true);
    if (rc != kZOk) return rc;
    live = SortLive(kids);
    eligible = Eligible(r, live);
    if (eligible.empty() || eligible.front() != my_name) return kAgain;  // lost the lead
    is_leader = true;
    rc = Agree(r, rs.version, &eligible);
    if (rc != kZOk) return rc;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (fatal) return kZOk;
    }
    std::vector<std::string> names;
    for (const auto& n : live) names.push_back(n.name);
    if (names != last_live) {
      last_live = names;
      last_change = Clock::now();
    }
    rc = LeaderStep(r, rs.version, live, eligible);
    if (rc != kZOk) return rc;
  } else if (me != eligible.end()) {
    is_leader = false;
    const std::string pred = paths.members + "/" + *(me - 1);
    rc = session.Exists(pred, nullptr, true);
    if (rc == kZNoNode) return kAgain;  // predecessor gone: maybe we lead now
    if (rc != kZOk) return rc;
  } else {
    // Not eligible (a newer run waiting for an old ring's members to go, or a stale
    // survivor): watch the children until eligibility changes.
    is_leader = false;
    rc = session.Children(paths.members, &kids, true);
    if (rc != kZOk) return rc;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    live_count = static_cast<int>(live.size());
  }
  Deliver(r, rs.version);
  return kZOk;
}

void Rendezvous::Impl::HandleEvent(const ZkEvent& ev, bool* need_eval) {
  if (ev.type == ZkEventType::kWake) return;
  if (ev.type != ZkEventType::kSession) {
    *need_eval = true;
    return;
  }
  if (ev.state == ZkState::kExpired) {
    SetFatal("ZooKeeper session expired (" + session.hosts() + "); this member is dead");
  } else if (ev.state == ZkState::kConnected) {
    if (disconnected_since) log::Info("rendezvous: reconnected to ZooKeeper");
    disconnected_since.reset();
    *need_eval = true;
  } else if (!disconnected_since) {
    disconnected_since = Clock::now();
    log::Warn("rendezvous: disconnected from ZooKeeper " + session.hosts() + "; reconnecting");
  }
}

void Rendezvous::Impl::Run() {
  bool need_eval = true;
  int attempt = 0;
  while (!stop.load()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (fatal) break;
    }
    bool again_now = false;
    if (need_eval) {
      need_eval = false;
      timer = Deadline::Never();
      try {
        int rc = Evaluate();
        if (rc == kAgain)
          again_now = true;
        else if (rc != kZOk) {
          need_eval = true;
          if (rc == kZSessionExpired || rc == kZInvalidState) {
            SetFatal("ZooKeeper session expired (" + session.hosts() + "); this member is dead");
          } else if (rc == kZNoAuth) {
            SetFatal(LockoutReason());  // retrying cannot help: someone changed an ACL
          } else if (++attempt % 20 == 0) {
            log::Warn("rendezvous: ZooKeeper call failed: " + ZkErrorText(rc) + "; retrying");
          }
        } else {
          attempt = 0;
        }
      } catch (const Error& e) {
        log::Warn(std::string("rendezvous: ") + e.what());
        need_eval = true;
      }
    }
    if (again_now) {
      need_eval = true;
      continue;
    }
    Deadline wait = need_eval ? Deadline::After(std::chrono::milliseconds(100)) : timer;
    if (disconnected_since) {
      Deadline presumed(*disconnected_since + session.negotiated_timeout());
      if (presumed.Expired()) {
        SetFatal("disconnected from ZooKeeper " + session.hosts() +
                 " for longer than the session timeout; session presumed expired");
        continue;
      }
      wait = Deadline::Min(wait, presumed);
    }
    ZkEvent ev;
    if (session.WaitEvent(&ev, wait)) {
      HandleEvent(ev, &need_eval);
      while (session.WaitEvent(&ev, Deadline::After(std::chrono::milliseconds(0)))) {
        HandleEvent(ev, &need_eval);
      }
    } else if (timer.Expired()) {
      need_eval = true;
    }
  }
}

}  // namespace ringtrain::rendezvous
