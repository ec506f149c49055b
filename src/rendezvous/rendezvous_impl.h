// rendezvous/rendezvous_impl.h — Rendezvous's state and protocol steps (internal to the
// rendezvous box).
//
// One Impl per member. Rendezvous::Join (rendezvous.cc) fills it and runs the join steps on
// the caller's thread (rendezvous_join.cc), then starts the coordinator thread, the only code
// that reacts to ZooKeeper events (rendezvous_coordinator.cc). Threads: fields under "Shared
// with user threads" only under mu (cv announces changes); "Coordinator-only" fields only on
// the coordinator thread (the join steps seed member_cache before it starts); the rest is set
// before the coordinator starts (stop and is_leader are atomics). Leave stops and joins the
// coordinator before it deletes the member node and closes the session.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/deadline.h"
#include "common/error.h"
#include "common/ring.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

using Clock = std::chrono::steady_clock;

// A child of members/ with a valid sequence number.
struct LiveNode {
  std::string name;
  std::int64_t seq;
};

struct Rendezvous::Impl {
  Options opts;
  JobPaths paths;
  ZkSession session;
  JobRecord job;
  std::string my_name;
  std::int64_t my_seq = -1;
  std::int64_t my_ctime_ms = 0;     // server time of this member's node
  std::string refusal;              // this member's config differs from the job record's
  std::int64_t joined_unix_ms = 0;  // when Join started (this run's outcomes are later)
  bool elastic = false;
  int min_ranks = 0, max_ranks = 0;
  std::unique_ptr<CheckpointRegistry> registry;
  std::thread coordinator;
  std::atomic<bool> stop{false};
  std::atomic<bool> is_leader{false};
  // The run ended (RecordOutcome / MarkEnded): publications leave the job record alone.
  std::atomic<bool> ended{false};

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
  bool refused = false;  // fatal because the members disagree on options
  std::string fatal_reason;
  bool left = false;
  int live_count = 0;
  std::function<void()> hook;

  // Coordinator-only.
  std::map<std::string, Member> member_cache;
  std::map<std::string, MemberRecord> record_cache;  // members' payloads (agreed, refusal)
  std::vector<std::string> last_live;
  Clock::time_point last_change = Clock::now();
  Deadline timer = Deadline::Never();
  std::optional<Clock::time_point> disconnected_since;
  bool said_open = false;  // the open-ACL warning was given (once per process)

  explicit Impl(ZkSession s) : session(std::move(s)) {}

  std::string Where(const std::string& path) const { return session.hosts() + " " + path; }
  [[noreturn]] void Fail(const std::string& what, int rc, const std::string& path,
                         const std::string& hint) const {
    if (rc == kZNoAuth) {
      throw RendezvousError(
          what + ": not authorised (" + AclNote(const_cast<ZkSession&>(session), path) + ")",
          Where(path), NoAuthHint(!opts.auth.empty()));
    }
    throw RendezvousError(what + ": " + ZkErrorText(rc), Where(path), hint);
  }

  // ---- Join (rendezvous_join.cc) ----
  void EnsureRoot(Deadline deadline);
  void EnsureJob(Deadline deadline);
  // With --zk-auth: an existing job whose nodes do not give this identity exclusive access is
  // refused (RendezvousError naming the node and its ACL), never joined.
  void CheckExclusive(Deadline deadline);
  void CheckNotHeld(Deadline deadline);
  void CreateMember(Deadline deadline);
  void Leave();

  // ---- Coordinator (rendezvous_coordinator.cc) ----
  std::vector<std::string> Eligible(const RingRecord& r, const std::vector<LiveNode>& live) const;
  void SetFatal(const std::string& reason, bool is_refusal = false);
  // After a ZNOAUTH: which of the job's nodes this client can no longer read, and its ACL.
  std::string LockoutReason();
  void WarnOpenAcls();
  const MemberRecord* Payload(const std::string& name, int* rc);
  int Agree(const RingRecord& r, int version, std::vector<std::string>* eligible);
  int CheckLateJoiner(const RingRecord& r, const NodeStat& rs, int version,
                      const std::vector<LiveNode>& live);
  void Deliver(const RingRecord& r, int version);
  int Publish(const RingRecord& old, int version, const std::string& state,
              const std::vector<std::string>& names, std::int64_t max_seq,
              const std::string& reason);
  int LeaderStep(const RingRecord& r, int version, const std::vector<LiveNode>& live,
                 const std::vector<std::string>& eligible);
  int Evaluate();
  void HandleEvent(const ZkEvent& ev, bool* need_eval);
  void Run();
};

}  // namespace ringtrain::rendezvous
