// rendezvous/rendezvous.cc — the public Rendezvous: Join validates the options, runs the join
// steps (rendezvous_join.cc), wires the checkpoint registry to the last received ring and
// starts the coordinator (rendezvous_coordinator.cc); the other methods read the state the
// coordinator publishes, under the Impl's mutex.
#include "rendezvous/rendezvous.h"

#include <unistd.h>

#include <climits>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/uuid.h"
#include "rendezvous/records.h"
#include "rendezvous/registry_impl.h"
#include "rendezvous/rendezvous_impl.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

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
  impl->joined_unix_ms = NowUnixMs();
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
  if (s.refused) {
    throw UsageError(s.fatal_reason, s.Where(s.paths.job),
                     "start every rank with the same options (`ringtrain train --help` marks "
                     "the ones that must match)");
  }
  if (s.fatal) throw RendezvousError(s.fatal_reason, where, "restart the process to rejoin");
  if (s.left) throw RendezvousError("this member has left the job", where, "");
  lock.unlock();
  // No ring in time: if that is because someone took the job's nodes away (an ACL changed:
  // no watch fires for that), say so rather than "start the missing ranks".
  std::string probe;
  if (s.session.Get(s.paths.ring, &probe, nullptr, false) == kZNoAuth ||
      s.session.Get(s.paths.job, &probe, nullptr, false) == kZNoAuth)
    throw RendezvousError(s.LockoutReason(), s.Where(s.paths.job), "");
  lock.lock();
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

bool Rendezvous::Refused() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->refused;
}

bool Rendezvous::RingSuperseded() {
  Impl& s = *impl_;
  int version = -1;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.returned) return false;
    version = s.returned_version;
  }
  NodeStat st;
  if (s.session.Exists(s.paths.ring, &st, false) != kZOk) return false;
  return st.version != version;
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

void Rendezvous::MarkEnded() { impl_->ended = true; }

std::string Rendezvous::RecordOutcome(const std::string& state, const JobOutcome& outcome,
                                      Deadline deadline) {
  Impl& s = *impl_;
  s.ended = true;
  for (;;) {
    std::string data;
    NodeStat st;
    int rc =
        RetryIdempotent([&] { return s.session.Get(s.paths.job, &data, &st, false); }, deadline);
    if (rc != kZOk) return "cannot read the job record: " + ZkErrorText(rc);
    JobRecord jr = s.job;
    try {
      jr = DecodeJob(data, s.Where(s.paths.job));
    } catch (const Error& e) {
      return e.what();
    }
    // This run's first failure is kept (the others are its consequences); an outcome of an
    // earlier run (before this run's ring went active) is not this run's.
    if (state == "failed" && jr.state == "failed" &&
        jr.outcome.ended_at_unix_ms >= s.joined_unix_ms)
      return "";
    jr.state = state;
    jr.outcome = outcome;
    if (jr.outcome.ended_at_unix_ms == 0) jr.outcome.ended_at_unix_ms = NowUnixMs();
    jr.changed_at_unix_ms = jr.outcome.ended_at_unix_ms;
    rc = s.session.Set(s.paths.job, EncodeJob(jr), st.version);
    if (rc == kZOk) return "";
    if (rc == kZBadVersion || rc == kZConnectionLoss || rc == kZOperationTimeout) {
      if (deadline.Expired()) return "cannot update the job record: " + ZkErrorText(rc);
      continue;  // changed meanwhile (or outcome unknown): read again and decide again
    }
    return "cannot update the job record: " + ZkErrorText(rc);
  }
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
