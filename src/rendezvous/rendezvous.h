// rendezvous/rendezvous.h — ranks find each other through ZooKeeper and agree on a ring.
//
// What it does: Join() connects a ZooKeeper session, checks (or creates) the job record
// /<root>/<job>, and creates this process's protected ephemeral-sequential member node. A
// coordinator thread (one per Rendezvous, the only thread reacting to ZooKeeper events) runs
// the protocol: the lowest eligible member is the leader; it alone watches members/ and
// publishes `ring` with a zoo_multi fenced by the ring node's version; every other member
// watches its predecessor (succession) and `ring`. WaitForRing() hands out each published
// ring that contains this member. See docs/rendezvous.md for the layout and protocol.
//
// What it must not know: sockets, MPI, models. It never includes zookeeper.h in a header.
//
// Threads: WaitForRing, RingLost, LostReason, checkpoints() and Leave may be called from any
// one user thread; the lost hook runs on the coordinator thread. Ownership: a Rendezvous owns
// its session; the CheckpointRegistry returned by checkpoints() lives as long as it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/partition.h"
#include "common/ring.h"

namespace ringtrain::rendezvous {

class ZkSession;

struct Options {
  std::string zk_hosts = "127.0.0.1:2181";  // "h:p,h:p[/chroot]"
  std::string root = "/ringtrain";
  std::string job;
  std::string auth;  // "user:password" (digest) or empty
  int ranks = 0;     // expected world size; 0 => elastic (min/max)
  int min_ranks = 0, max_ranks = 0;
  std::chrono::milliseconds settle{1000};  // elastic "last call" time
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds timeout{120000};  // deadline for connecting and for a ring
  std::string config_text;  // canonical "key = value\n" lines, hashed into the job record
  // "key = value\n" lines every member of one run must give alike (train::AgreedText: the
  // shape keys and the run-agreed keys). Exchanged in the member node; members that differ
  // are all refused (WaitForRing throws UsageError naming each key with every value).
  std::string agreed_text;
  // A member that joins within this time (server clock) after a ring was refused, or after
  // a ring whose options differ from its own was formed, belongs to the same launch: it is
  // refused too (and refuses that ring). Later, a differing member refuses only itself.
  std::chrono::milliseconds refusal_window{2000};
  Member self;  // host, port, mpi_rank, pid (uuid filled if empty)
  // Connect to hosts in the listed order (zoo_deterministic_conn_order: a process-wide
  // setting of the C client, never turned off again once a Join asked for it).
  bool deterministic_connection_order = false;
};

struct CheckpointRecord {
  std::int64_t epoch = 0;
  std::int64_t generation = 0;
  int world_size = 0;
  std::string path;
  std::int64_t bytes = 0;
  std::string checksum;
  std::string metrics_json;  // a JSON object as text ("{}" if none)
  std::int64_t time_unix_ms = 0;
  bool operator==(const CheckpointRecord&) const = default;
};

// How a run of the job ended, kept in the job record (state "finished" or "failed").
struct JobOutcome {
  std::int64_t final_epoch = -1;                                // finished: epochs done
  double objective = std::numeric_limits<double>::quiet_NaN();  // finished: the last one
  std::string model_path;                                       // finished: --output ("" if none)
  std::string cause;                                            // failed: the error line
  std::string reported_by;  // failed: the rank that reported it (rank, host:port, pid)
  std::int64_t ended_at_unix_ms = 0;
};

// Znodes /<root>/<job>/checkpoints/epoch-NNNNNNNNNN and /<root>/<job>/latest.
// Every call may block up to the owner's timeout; errors are RendezvousError naming the znode.
class CheckpointRegistry {
 public:
  // A registry for a tool (`ringtrain checkpoints`): its own session, no membership. Record()
  // is refused on it (only a ring leader records); the rest works.
  static std::unique_ptr<CheckpointRegistry> Open(const std::string& zk_hosts,
                                                  const std::string& root, const std::string& job,
                                                  const std::string& auth, Deadline deadline);
  ~CheckpointRegistry();
  CheckpointRegistry(const CheckpointRegistry&) = delete;
  CheckpointRegistry& operator=(const CheckpointRegistry&) = delete;

  // One multi-op: create the record + set latest, fenced by the version of the ring node
  // as last returned by WaitForRing (a deposed leader gets RendezvousError). Idempotent:
  // recording the same record again (e.g. after a connection loss) succeeds once.
  void Record(const CheckpointRecord& r);
  std::optional<CheckpointRecord> Latest();
  std::optional<CheckpointRecord> Get(std::int64_t epoch);
  std::vector<CheckpointRecord> List();  // ascending epoch
  void Delete(std::int64_t epoch);       // fixes latest if needed; missing epoch -> error
  // Deletes all but the newest `keep` records at or below epoch `newest` (records above it,
  // which this run did not make, are neither counted nor deleted), returns the deleted ones
  // (the caller removes their files).
  std::vector<CheckpointRecord> Prune(int keep, std::int64_t newest = INT64_MAX);

  // The partition map znode /<root>/<job>/partitions (payload: common/partition.h's JSON).
  // Publish: one multi [check ring @version-of-my-last-returned-ring, set (or create) the
  // map], so a deposed leader gets RendezvousError; refused on a tool's registry.
  void PublishPartitions(const PartitionMap& map);
  // The published map, validated (RendezvousError naming the znode if it is malformed or
  // does not tile the data); nullopt if none was published.
  std::optional<PartitionMap> Partitions();

  struct Impl;
  explicit CheckpointRegistry(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

class Rendezvous {
 public:
  // Connects, checks/creates the job record, creates the member node, starts the
  // coordinator. Throws UsageError (bad job name, config mismatch) or RendezvousError.
  static std::unique_ptr<Rendezvous> Join(const Options& options);
  ~Rendezvous();  // Leave()
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;

  // The next published ring that contains this member (ring.token = job token), with a
  // generation greater than any returned before. Throws RendezvousError on deadline or
  // session expiry, UsageError when the members disagree on options (Refused()).
  Ring WaitForRing(Deadline deadline);
  // The last returned ring is superseded or lost a member (or the session is gone).
  bool RingLost() const;
  std::string LostReason() const;
  // The members of this run disagree on options (or on the job's config): LostReason() names
  // each differing key with its values. The ring, if one was returned, is lost.
  bool Refused() const;
  // A ZooKeeper read (one round trip): has the ring node been republished since the ring last
  // returned by WaitForRing (its notification may still be on its way)? False on errors.
  bool RingSuperseded();
  // Called once per lost ring from the coordinator thread; must be cheap and must never
  // call back into this object or ZooKeeper.
  void SetRingLostHook(std::function<void()> hook);
  CheckpointRegistry& checkpoints();
  const std::string& job_token() const;
  // Records how this run ended in the job record (state "finished" or "failed" + outcome),
  // one versioned read-modify-write retried until `deadline`; a "failed" never replaces an
  // outcome already recorded by this run (the first cause is kept), a "finished" replaces a
  // "failed". From then on this member's publications no longer change the job record (a
  // ring re-formed by members leaving after the end must not turn it back to running).
  // Errors are returned as text ("" = recorded), never thrown: the run's own result stands.
  std::string RecordOutcome(const std::string& state, const JobOutcome& outcome, Deadline deadline);
  // Marks the run as ended without writing (the ranks that do not record the outcome).
  void MarkEnded();
  // Delete the member node and close the session (idempotent).
  void Leave();

  // Extras (for tests, status and the benchmark).
  const std::string& member_name() const;  // e.g. "_c_<uuid>-m-0000000003"
  std::int64_t session_id() const;
  std::int64_t notifications() const;  // watch notifications delivered to this session
  bool IsLeader() const;               // this member currently acts as leader

  struct Impl;
  explicit Rendezvous(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Read-only view for `ringtrain status`.
struct LiveMember {
  Member member;  // name, host, port, mpi_rank, pid, uuid
  std::int64_t sequence = -1;
};
struct JobStatus {
  std::string zk_hosts;
  std::string job;
  std::string path;  // /<root>/<job>
  // As shown: the job record's state ("forming", "running", "lost", "refused", "finished",
  // "failed"), or "abandoned" when no member is live and the job is neither finished, failed
  // nor refused (every process of the run is gone without saying how it ended).
  std::string state;
  std::string recorded_state;           // the job record's own state
  JobOutcome outcome;                   // finished / failed details
  std::int64_t changed_at_unix_ms = 0;  // last change: job record or ring node (server clock)
  std::string config_hash;
  std::string config_text;
  std::string creator;
  std::int64_t created_at_unix_ms = 0;
  std::int64_t generation = 0;
  std::string ring_state;                // "none", "active", "lost"
  std::string ring_reason;               // why the last generation was published / lost
  std::vector<Member> ring;              // ring order; ring[0] leads
  std::vector<LiveMember> live_members;  // by sequence
  std::string leader;  // member name of the acting leader (lowest eligible), "" if none
  std::optional<std::int64_t> latest_epoch;
  std::vector<CheckpointRecord> checkpoints;
  std::optional<PartitionMap> partitions;  // the published partition map, if any
  std::string partitions_error;            // why a published map could not be shown
};
JobStatus ReadJobStatus(const std::string& zk_hosts, const std::string& root,
                        const std::string& job, const std::string& auth, Deadline deadline);
std::string ToJson(const JobStatus& status);
// Multi-line text for a person.
std::string ToText(const JobStatus& status);

// The jobs under a root (`ringtrain status` without --job), by name. A job that cannot be read
// (no access, malformed record) is listed with `error` set and the rest unknown.
struct JobListEntry {
  std::string job;
  std::string state;  // as JobStatus::state
  std::int64_t generation = 0;
  int live_members = 0;
  std::optional<std::int64_t> latest_epoch;
  std::int64_t changed_at_unix_ms = 0;
  std::string error;  // "" = read
};
struct JobList {
  std::string zk_hosts;
  std::string root;
  std::vector<JobListEntry> jobs;
};
JobList ListJobs(const std::string& zk_hosts, const std::string& root, const std::string& auth,
                 Deadline deadline);
std::string ToJson(const JobList& list);
std::string ToText(const JobList& list);

// Job names: non-empty, no '/', at most 200 bytes, not "." or "..". Throws UsageError.
void ValidateJobName(const std::string& job);
// Keys whose values differ between two "key = value" config texts (sorted), each rendered
// "key (job: a, yours: b)"; empty if equal.
std::vector<std::string> DiffConfig(const std::string& job_text, const std::string& mine);

}  // namespace ringtrain::rendezvous
