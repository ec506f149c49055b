// rendezvous/rendezvous.cc — join, leader election, ring publication and loss detection.
//
// Why shaped so: one coordinator thread per member owns the protocol and is the only code
// that reacts to ZooKeeper events, so every decision is a full re-evaluation of (ring node,
// members) — idempotent, and correct after any missed or duplicated notification. Only the
// leader watches members/ (O(N) notifications per change, no herd); the others watch their
// predecessor (succession) and the ring node. Eligibility keeps lingering ephemerals of an
// earlier, killed run out of a new ring: after a non-elastic ring is lost, only members with
// a sequence above that ring's highest member sequence may form the next one.
#include "rendezvous/rendezvous.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/checksum.h"
#include "common/error.h"
#include "common/log.h"
#include "common/uuid.h"
#include "rendezvous/records.h"
#include "rendezvous/registry_impl.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

namespace {
constexpr int kAgain = 1;  // Evaluate(): re-evaluate at once
using Clock = std::chrono::steady_clock;

struct LiveNode {
  std::string name;
  std::int64_t seq;
};

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

struct Rendezvous::Impl {
  Options opts;
  JobPaths paths;
  ZkSession session;
  JobRecord job;
  std::string my_name;
  std::int64_t my_seq = -1;
  bool elastic = false;
  int min_ranks = 0, max_ranks = 0;
  std::unique_ptr<CheckpointRegistry> registry;
  std::thread coordinator;
  std::atomic<bool> stop{false};
  std::atomic<bool> is_leader{false};

  // Shared with user threads.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::optional<Ring> pending;
  int pending_version = -1;
  std::optional<Ring> returned;
  int returned_version = -1;
  std::int64_t seen_generation = 0;
  bool lost = false;
  std::string lost_reason;
  bool fatal = false;
  std::string fatal_reason;
  bool left = false;
  int live_count = 0;
  std::function<void()> hook;

  // Coordinator-only.
  std::map<std::string, Member> member_cache;
  std::vector<std::string> last_live;
  Clock::time_point last_change = Clock::now();
  Deadline timer = Deadline::Never();
  std::optional<Clock::time_point> disconnected_since;

  explicit Impl(ZkSession s) : session(std::move(s)) {}

  std::string Where(const std::string& path) const { return session.hosts() + " " + path; }
  [[noreturn]] void Fail(const std::string& what, int rc, const std::string& path,
                         const std::string& hint) const {
    if (rc == kZNoAuth) {
      throw RendezvousError(what + ": not authorised by the node's ACL", Where(path),
                            "pass the job's --zk-auth user:password");
    }
    throw RendezvousError(what + ": " + ZkErrorText(rc), Where(path), hint);
  }

  // ---- Join ----
  void EnsureRoot(Deadline deadline) {
    std::string prefix;
    std::string root = opts.root;
    std::size_t pos = 1;
    while (pos <= root.size()) {
      std::size_t next = root.find('/', pos);
      if (next == std::string::npos) next = root.size();
      prefix = root.substr(0, next);
      pos = next + 1;
      if (prefix.size() <= 1 || prefix.back() == '/') continue;
      int rc = RetryIdempotent(
          [&] {
            int r = session.Create(prefix, "", CreateMode::kPersistentOpen, nullptr);
            return r == kZNodeExists ? kZOk : r;
          },
          deadline);
      if (rc != kZOk) Fail("cannot create the root node", rc, prefix, "check --zk and --zk-root");
    }
  }

  void EnsureJob(Deadline deadline) {
    JobRecord mine;
    mine.config_text = opts.config_text;
    mine.config_hash = Hex64(Fnv1a64(opts.config_text));
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    mine.creator = std::string(host) + ":" + std::to_string(getpid());
    mine.created_at_unix_ms = NowUnixMs();
    mine.state = "forming";
    mine.token = RandomHexId();
    for (;;) {
      std::vector<ZkOp> ops = {ZkOp::Create(paths.job, EncodeJob(mine)),
                               ZkOp::Create(paths.members, ""), ZkOp::Create(paths.checkpoints, ""),
                               ZkOp::Create(paths.ring, ""), ZkOp::Create(paths.latest, "")};
      int rc = session.Multi(ops, nullptr);
      if (rc == kZOk) {
        job = mine;
        log::Debug("rendezvous: created job record " + paths.job);
        return;
      }
      if (rc == kZConnectionLoss || rc == kZOperationTimeout) {
        if (deadline.Expired()) Fail("cannot create the job record", rc, paths.job, "");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;  // outcome unknown: the next try sees NODEEXISTS and reads what is there
      }
      if (rc != kZNodeExists)
        Fail("cannot create the job record", rc, paths.job, "check --zk-root");
      std::string data;
      rc = RetryIdempotent([&] { return session.Get(paths.job, &data, nullptr, false); }, deadline);
      if (rc == kZNoNode) continue;  // deleted meanwhile
      if (rc != kZOk) Fail("cannot read the job record", rc, paths.job, "");
      job = DecodeJob(data, Where(paths.job));
      if (job.config_hash != mine.config_hash) {
        auto keys = DiffConfig(job.config_text, opts.config_text);
        std::string list;
        for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
        throw UsageError("config differs from job '" + opts.job + "' in " +
                             std::to_string(keys.size()) + " key(s): " + list,
                         Where(paths.job), "use the job's config, or a new --job name");
      }
      return;
    }
  }

  // A job whose ring is held by live members of another run is refused. Ring members that
  // are gone (or vanish within their session timeout: a killed run) let the new run in.
  void CheckNotHeld(Deadline deadline) {
    std::string data;
    NodeStat st;
    int rc = RetryIdempotent([&] { return session.Get(paths.ring, &data, &st, false); }, deadline);
    if (rc != kZOk) Fail("cannot read the ring", rc, paths.ring, "");
    RingRecord r = DecodeRing(data, Where(paths.ring));
    if (r.state != "active") return;
    if (elastic && static_cast<int>(r.members.size()) < max_ranks) return;  // joins next gen
    auto grace =
        std::chrono::milliseconds(std::max<std::int64_t>(r.session_timeout_ms, 1000) + 1000);
    Deadline until = Deadline::Min(deadline, Deadline::After(grace));
    for (;;) {
      std::size_t alive = 0;
      for (const auto& m : r.members) {
        int e = RetryIdempotent(
            [&] { return session.Exists(paths.members + "/" + m.name, nullptr, false); }, deadline);
        if (e == kZOk)
          ++alive;
        else if (e != kZNoNode)
          Fail("cannot check a ring member", e, paths.members + "/" + m.name, "");
      }
      if (alive < r.members.size()) return;
      if (until.Expired()) {
        const Member& l = r.members.front();
        throw RendezvousError(
            "job '" + opts.job + "' is held by a live ring of another run: generation " +
                std::to_string(r.generation) + ", " + std::to_string(r.members.size()) +
                " live members, leader " + l.host + ":" + std::to_string(l.port),
            Where(paths.ring), "use another --job name, or stop that run first");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  void CreateMember(Deadline deadline) {
    const std::string prefix = paths.members + "/_c_" + opts.self.uuid + "-m-";
    const std::string data = MemberToJson(opts.self);
    for (;;) {
      std::string created;
      int rc = session.Create(prefix, data, CreateMode::kEphemeralSequential, &created);
      if (rc == kZOk) {
        my_name = created.substr(created.rfind('/') + 1);
        break;
      }
      if (rc != kZConnectionLoss && rc != kZOperationTimeout) {
        Fail("cannot create the member node", rc, prefix, "check --zk-auth and the job's ACL");
      }
      // Outcome unknown: the create may have happened. Find our uuid; adopt the node only if
      // this session owns it. Never create a second one.
      log::Warn("rendezvous: connection lost while creating " + prefix + "; looking for it");
      std::vector<std::string> kids;
      int lr =
          RetryIdempotent([&] { return session.Children(paths.members, &kids, false); }, deadline);
      if (lr != kZOk) Fail("cannot list members", lr, paths.members, "");
      for (const auto& k : kids) {
        if (MemberUuid(k) != opts.self.uuid) continue;
        NodeStat st;
        int er = RetryIdempotent(
            [&] { return session.Exists(paths.members + "/" + k, &st, false); }, deadline);
        if (er == kZOk && st.ephemeral_owner == session.session_id()) my_name = k;
      }
      if (!my_name.empty()) break;
      if (deadline.Expired()) Fail("cannot create the member node", rc, prefix, "");
    }
    my_seq = MemberSequence(my_name);
    Member me = opts.self;
    me.name = my_name;
    member_cache[my_name] = me;
    log::Debug("rendezvous: joined " + paths.members + "/" + my_name);
  }

  // ---- Coordinator ----
  std::vector<std::string> Eligible(const RingRecord& r, const std::vector<LiveNode>& live) const {
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

  void SetFatal(const std::string& reason) {
    std::function<void()> h;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (fatal) return;
      fatal = true;
      fatal_reason = reason;
      if (returned && !lost) {
        lost = true;
        lost_reason = reason;
        h = hook;
      }
      cv.notify_all();
    }
    log::Warn("rendezvous: " + reason);
    if (h) h();
  }

  // Two steps so the lost hook has run before WaitForRing can hand out the next ring (the
  // trainer's Abort happens-before it sees the new generation).
  void Deliver(const RingRecord& r, int version) {
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

  int Publish(const RingRecord& old, int version, const std::string& state,
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
    JobRecord jr = job;
    jr.state = state == "active" ? "running" : "lost";
    std::vector<ZkOp> ops = {ZkOp::Check(paths.members + "/" + my_name, -1),
                             ZkOp::Set(paths.ring, EncodeRing(n), version),
                             ZkOp::Set(paths.job, EncodeJob(jr), -1)};
    int rc = session.Multi(ops, nullptr);
    if (rc == kZOk) {
      log::Info("rendezvous: leader published " + paths.ring + " generation " +
                std::to_string(n.generation) + " (" + state + ", " +
                std::to_string(n.members.size()) + " members): " + reason);
      return kAgain;
    }
    if (rc == kZBadVersion || rc == kZNoNode) return kAgain;  // fenced: re-read and decide again
    return rc;
  }

  int LeaderStep(const RingRecord& r, int version, const std::vector<LiveNode>& live,
                 const std::vector<std::string>& eligible) {
    std::set<std::string> live_set;
    for (const auto& n : live) live_set.insert(n.name);
    std::vector<std::string> missing, survivors;
    for (const auto& m : r.members)
      (live_set.count(m.name) ? survivors : missing).push_back(m.name);
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
    if (static_cast<int>(cands.size()) > max_ranks)
      cands.resize(static_cast<std::size_t>(max_ranks));
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

  int Evaluate() {
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

  void HandleEvent(const ZkEvent& ev, bool* need_eval) {
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

  void Run() {
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

  void Leave() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (left) return;
      left = true;
    }
    stop = true;
    session.Wake();
    if (coordinator.joinable()) coordinator.join();
    if (!my_name.empty() && !session.expired()) {
      int rc = session.Delete(paths.members + "/" + my_name, -1);
      if (rc != kZOk && rc != kZNoNode) {
        log::Warn("rendezvous: could not delete " + paths.members + "/" + my_name + ": " +
                  ZkErrorText(rc) + " (it goes with the session)");
      }
    }
    session.Close();
    std::lock_guard<std::mutex> lock(mu);
    if (returned && !lost) {
      lost = true;
      lost_reason = "this member left";
    }
    cv.notify_all();
  }
};

std::unique_ptr<Rendezvous> Rendezvous::Join(const Options& options) {
  ValidateJobName(options.job);
  if (options.root.empty() || options.root[0] != '/') {
    throw UsageError("the ZooKeeper root '" + options.root + "' does not start with '/'",
                     "--zk-root", "pass an absolute path such as /ringtrain");
  }
  bool elastic = options.ranks == 0;
  int min_ranks = options.min_ranks, max_ranks = options.max_ranks;
  if (options.ranks < 0) throw UsageError("--ranks is negative", "--ranks", "pass --ranks N >= 1");
  if (elastic) {
    if (min_ranks < 1) {
      throw UsageError("neither --ranks nor --min-ranks is set", "--ranks",
                       "pass --ranks N, or --min-ranks/--max-ranks for an elastic job");
    }
    if (max_ranks == 0) max_ranks = INT_MAX;
    if (max_ranks < min_ranks) {
      throw UsageError("--max-ranks is below --min-ranks", "--max-ranks", "pass max >= min");
    }
  }
  Deadline deadline = Deadline::After(options.timeout);
  Options opts = options;
  if (opts.self.uuid.empty()) opts.self.uuid = RandomHexId();
  if (opts.self.pid == 0) opts.self.pid = getpid();
  auto impl =
      std::make_unique<Impl>(ZkSession::Connect(opts.zk_hosts, opts.auth, opts.session_timeout,
                                                deadline, opts.deterministic_connection_order));
  impl->opts = opts;
  impl->elastic = elastic;
  impl->min_ranks = min_ranks;
  impl->max_ranks = max_ranks;
  impl->paths = JobPaths::For(opts.root, opts.job);
  impl->EnsureRoot(deadline);
  impl->EnsureJob(deadline);
  impl->CheckNotHeld(deadline);
  impl->CreateMember(deadline);

  auto reg = std::make_unique<CheckpointRegistry::Impl>();
  reg->session = &impl->session;
  reg->paths = impl->paths;
  reg->timeout = opts.timeout;
  Impl* raw = impl.get();
  reg->fence = [raw]() -> std::pair<int, std::int64_t> {
    std::lock_guard<std::mutex> lock(raw->mu);
    if (!raw->returned) {
      throw RendezvousError("no ring yet: checkpoints are recorded by the leader of a ring",
                            raw->Where(raw->paths.ring), "call WaitForRing first");
    }
    return {raw->returned_version, raw->returned->generation};
  };
  impl->registry = std::make_unique<CheckpointRegistry>(std::move(reg));
  impl->coordinator = std::thread([raw] { raw->Run(); });
  return std::make_unique<Rendezvous>(std::move(impl));
}

Rendezvous::Rendezvous(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Rendezvous::~Rendezvous() { Leave(); }

Ring Rendezvous::WaitForRing(Deadline deadline) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait_until(lock, deadline.at(), [&] { return s.pending.has_value() || s.fatal || s.left; });
  if (s.pending) {
    s.returned = std::move(s.pending);
    s.returned_version = s.pending_version;
    s.pending.reset();
    s.lost = false;
    s.lost_reason.clear();
    return *s.returned;
  }
  std::string where = s.Where(s.paths.members + "/" + s.my_name);
  if (s.fatal) throw RendezvousError(s.fatal_reason, where, "restart the process to rejoin");
  if (s.left) throw RendezvousError("this member has left the job", where, "");
  std::string expected =
      s.elastic ? "at least " + std::to_string(s.min_ranks) : std::to_string(s.opts.ranks);
  throw RendezvousError("no ring containing this member was published before the deadline (" +
                            std::to_string(s.live_count) + " members present, " + expected +
                            " expected)",
                        s.Where(s.paths.members), "start the missing ranks, or raise --timeout");
}

bool Rendezvous::RingLost() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return (impl_->returned && impl_->lost) || impl_->fatal;
}

std::string Rendezvous::LostReason() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->returned && impl_->lost) return impl_->lost_reason;
  return impl_->fatal ? impl_->fatal_reason : std::string();
}

void Rendezvous::SetRingLostHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->hook = std::move(hook);
}

CheckpointRegistry& Rendezvous::checkpoints() { return *impl_->registry; }
const std::string& Rendezvous::job_token() const { return impl_->job.token; }
void Rendezvous::Leave() {
  if (impl_) impl_->Leave();
}
const std::string& Rendezvous::member_name() const { return impl_->my_name; }
std::int64_t Rendezvous::session_id() const { return impl_->session.session_id(); }
std::int64_t Rendezvous::notifications() const { return impl_->session.notifications(); }
bool Rendezvous::IsLeader() const { return impl_->is_leader.load(); }

}  // namespace ringtrain::rendezvous
