// rendezvous/rendezvous_join.cc — joining a job and leaving it: the root path, the job record
// (created once, or checked against this member's config), the refusal of a job held by a
// live ring of another run, this member's ephemeral sequential node, and Leave.
//
// Connection loss during a create means "outcome unknown": the job record is re-read (the next
// try sees NODEEXISTS), and the member node is looked up by this member's uuid and adopted only
// if this session owns it, so a member never creates a second node.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/checksum.h"
#include "common/error.h"
#include "common/log.h"
#include "common/uuid.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous_impl.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

void Rendezvous::Impl::EnsureRoot(Deadline deadline) {
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
          int r = session.Create(prefix, "", CreateMode::kRoot, nullptr);
          return r == kZNodeExists ? kZOk : r;
        },
        deadline);
    if (rc != kZOk) Fail("cannot create the root node", rc, prefix, "check --zk and --zk-root");
  }
}

void Rendezvous::Impl::EnsureJob(Deadline deadline) {
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
    if (rc != kZNodeExists) Fail("cannot create the job record", rc, paths.job, "check --zk-root");
    CheckExclusive(deadline);  // before anything of a foreign job is trusted
    std::string data;
    rc = RetryIdempotent([&] { return session.Get(paths.job, &data, nullptr, false); }, deadline);
    if (rc == kZNoNode) continue;  // deleted meanwhile
    if (rc != kZOk) Fail("cannot read the job record", rc, paths.job, "");
    job = DecodeJob(data, Where(paths.job));
    if (job.config_hash != mine.config_hash) {
      // Not thrown here: the member joins carrying the refusal, so the other members of
      // this launch are refused with it (CheckNotHeld throws at once for a live job).
      auto keys = DiffConfig(job.config_text, opts.config_text);
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      refusal = "config differs from job '" + opts.job + "' in " + std::to_string(keys.size()) +
                " key(s): " + list;
    }
    return;
  }
}

void Rendezvous::Impl::CheckExclusive(Deadline deadline) {
  if (opts.auth.empty()) return;
  const std::string me = DigestId(opts.auth);
  const int need = kPermRead | kPermWrite | kPermCreate | kPermDelete;
  for (const std::string& path :
       {paths.job, paths.members, paths.ring, paths.checkpoints, paths.latest, paths.partitions}) {
    std::vector<AclEntry> acl;
    int rc = RetryIdempotent([&] { return session.GetAcl(path, &acl); }, deadline);
    if (rc == kZNoNode) continue;  // partitions: made by the first leader
    if (rc != kZOk) Fail("cannot read the ACL of the existing job", rc, path, "");
    bool mine = false, foreign = false;
    for (const auto& e : acl) {
      const bool is_me = e.scheme == "digest" && e.id == me;
      if (is_me && (e.perms & need) == need) mine = true;
      if (!is_me && e.perms != 0) foreign = true;
    }
    if (!mine || foreign) {
      throw RendezvousError(
          "job node " + path + " already exists with the ACL " + DescribeAcl(acl) +
              ", which does not give this --zk-auth identity exclusive access: it was not made by "
              "this identity, and others could read its token or change its records; not joined",
          Where(path), "choose another --job name (docs/rendezvous.md, \"ACLs\")");
    }
  }
}

// A job whose ring is held by live members of another run is refused. Ring members that
// are gone (or vanish within their session timeout: a killed run) let the new run in.
void Rendezvous::Impl::CheckNotHeld(Deadline deadline) {
  std::string data;
  NodeStat st;
  int rc = RetryIdempotent([&] { return session.Get(paths.ring, &data, &st, false); }, deadline);
  if (rc != kZOk) Fail("cannot read the ring", rc, paths.ring, "");
  RingRecord r = DecodeRing(data, Where(paths.ring));
  if (r.state != "active") return;
  // Options differing from a ring formed just now (Options::refusal_window; the leader's
  // clock, the coordinator checks again on the server's): this member is a late member of the
  // same launch, and the coordinator refuses that ring with it.
  const bool differs = !r.agreed.empty() && r.agreed != opts.agreed_text;
  if (differs && NowUnixMs() - r.time_unix_ms < opts.refusal_window.count()) return;
  if (elastic && static_cast<int>(r.members.size()) < max_ranks) return;  // joins next gen
  auto grace = std::chrono::milliseconds(std::max<std::int64_t>(r.session_timeout_ms, 1000) + 1000);
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
    if (!refusal.empty()) {
      throw UsageError(refusal + " (the job is held by a live ring)", Where(paths.job),
                       "use the job's config, or a new --job name");
    }
    if (differs && until.Expired()) {
      std::vector<std::string> who;
      for (std::size_t i = 0; i < r.members.size(); ++i) who.push_back("rank " + std::to_string(i));
      who.push_back("this member");
      std::vector<std::string> texts(r.members.size(), r.agreed);
      texts.push_back(opts.agreed_text);
      throw UsageError(
          "job '" + opts.job + "' is held by a live ring (generation " +
              std::to_string(r.generation) +
              ") whose options differ from this member's: " + DescribeDisagreement(who, texts),
          Where(paths.ring), "use the ring's options, another --job, or stop that run first");
    }
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

void Rendezvous::Impl::CreateMember(Deadline deadline) {
  const std::string prefix = paths.members + "/_c_" + opts.self.uuid + "-m-";
  const std::string data = EncodeMember({opts.self, opts.agreed_text, refusal});
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
      int er = RetryIdempotent([&] { return session.Exists(paths.members + "/" + k, &st, false); },
                               deadline);
      if (er == kZOk && st.ephemeral_owner == session.session_id()) my_name = k;
    }
    if (!my_name.empty()) break;
    if (deadline.Expired()) Fail("cannot create the member node", rc, prefix, "");
  }
  my_seq = MemberSequence(my_name);
  NodeStat st;
  int er = RetryIdempotent(
      [&] { return session.Exists(paths.members + "/" + my_name, &st, false); }, deadline);
  if (er != kZOk) Fail("cannot read the member node", er, paths.members + "/" + my_name, "");
  my_ctime_ms = st.ctime_ms;
  record_cache[my_name] = {opts.self, opts.agreed_text, refusal};
  Member me = opts.self;
  me.name = my_name;
  member_cache[my_name] = me;
  log::Debug("rendezvous: joined " + paths.members + "/" + my_name);
}

void Rendezvous::Impl::Leave() {
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

}  // namespace ringtrain::rendezvous
